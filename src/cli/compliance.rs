//! `mameynode compliance …`: an asset's rules, pause, the blocked list, the dry run of a
//! transfer and the regulator's report (INTERFACES §12).

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{bail, Context as _, Result};
use clap::{Args, Subcommand};
use mameynode::modules::banking::AssetId;
use mameynode::modules::compliance::{AssetRules, ComplianceCall, Condition, Velocity};
use mameynode::rpc::client::RpcClient;
use mameynode::types::{Address, Payload};
use serde_json::{json, Value};

use super::identity::claim_type;
use super::{print_json, send, RpcArg, TxOptions};

// Parsed once per process: the size of a command does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
pub(super) enum ComplianceCommand {
    /// An asset's transfer rules (its issuer only).
    #[command(subcommand)]
    Rule(RuleCommand),
    /// Stop every movement of an asset (its issuer only).
    Pause(AssetTx),
    /// Let an asset move again.
    Resume(AssetTx),
    /// Put an address on the chain-wide blocked list (the compliance authority only).
    Block {
        #[arg(long)]
        address: Address,
        #[arg(long, default_value = "")]
        reason: String,
        #[command(flatten)]
        tx: TxOptions,
    },
    /// Take an address off the blocked list.
    Unblock {
        #[arg(long)]
        address: Address,
        #[command(flatten)]
        tx: TxOptions,
    },
    /// Print the blocked list, or whether one address is on it, as JSON.
    Blocked {
        address: Option<Address>,
        #[command(flatten)]
        rpc: RpcArg,
    },
    /// Whether a transfer would pass now, and why not (JSON; exit 0 either way).
    Check {
        #[arg(long)]
        asset: AssetId,
        #[arg(long)]
        from: Address,
        #[arg(long)]
        to: Address,
        #[arg(long)]
        amount: u128,
        /// The transfer would carry a travel-rule record.
        #[arg(long)]
        travel_record: bool,
        #[command(flatten)]
        rpc: RpcArg,
    },
    /// Export an asset's transfers, refusals, freezes, clawbacks and rule changes in a range of
    /// blocks, for a regulator.
    Report {
        #[arg(long)]
        asset: AssetId,
        #[arg(long, default_value_t = 1)]
        from: u64,
        /// Last height (default: the head).
        #[arg(long)]
        to: Option<u64>,
        #[arg(long, value_parser = ["csv", "json"], default_value = "csv")]
        format: String,
        /// Write to this file instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        rpc: RpcArg,
    },
}

#[derive(Args)]
pub(super) struct AssetTx {
    #[arg(long)]
    asset: AssetId,
    #[command(flatten)]
    tx: TxOptions,
}

// Parsed once per process: the size of a command does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
pub(super) enum RuleCommand {
    /// Replace the asset's rules with these.
    Set(RuleArgs),
    /// Remove every rule of the asset.
    Clear(AssetTx),
    /// Print the asset's rules as JSON.
    Show {
        asset: AssetId,
        #[command(flatten)]
        rpc: RpcArg,
    },
}

#[derive(Args)]
pub(super) struct RuleArgs {
    #[arg(long)]
    asset: AssetId,
    /// The sender holds a claim: TYPE or TYPE:MIN_LEVEL (repeat for several).
    #[arg(long)]
    sender_claim: Vec<String>,
    /// The receiver holds a claim: TYPE or TYPE:MIN_LEVEL (repeat for several).
    #[arg(long)]
    receiver_claim: Vec<String>,
    /// Only claims from these issuers count for --sender-claim and --receiver-claim (repeat;
    /// default: any trusted issuer).
    #[arg(long)]
    claim_issuer: Vec<Address>,
    /// The sender / receiver holds no claim of this type (e.g. affiliate).
    #[arg(long)]
    sender_no_claim: Vec<String>,
    #[arg(long)]
    receiver_no_claim: Vec<String>,
    /// The party has a jurisdiction claim in these codes (comma-separated, e.g. DE,FR).
    #[arg(long, value_delimiter = ',')]
    sender_jurisdiction_in: Vec<String>,
    #[arg(long, value_delimiter = ',')]
    receiver_jurisdiction_in: Vec<String>,
    /// The party has no jurisdiction claim in these codes.
    #[arg(long, value_delimiter = ',')]
    sender_jurisdiction_not_in: Vec<String>,
    #[arg(long, value_delimiter = ',')]
    receiver_jurisdiction_not_in: Vec<String>,
    /// Most holders (the issuer included); set while the supply is 0.
    #[arg(long)]
    max_holders: Option<u32>,
    /// Most one holder but the issuer may hold.
    #[arg(long)]
    max_balance: Option<u128>,
    /// AMOUNT/PERIOD_MS: most each holder may send per period of block time.
    #[arg(long)]
    velocity: Option<String>,
    /// Transfers of at least this much must carry a travel-rule record.
    #[arg(long)]
    travel_threshold: Option<u128>,
    #[command(flatten)]
    tx: TxOptions,
}

fn codes(list: &[String]) -> Result<Vec<[u8; 2]>> {
    list.iter()
        .map(|c| {
            <[u8; 2]>::try_from(c.trim().as_bytes())
                .map_err(|_| anyhow::anyhow!("{c:?} is not a two-letter ISO 3166-1 code"))
        })
        .collect()
}

fn conditions(
    claims: &[String],
    issuers: &[Address],
    none: &[String],
    within: &[String],
    outside: &[String],
) -> Result<Vec<Condition>> {
    let mut out = Vec::new();
    for c in claims {
        let (t, level) = match c.split_once(':') {
            Some((t, l)) => (
                t,
                l.parse::<u8>()
                    .with_context(|| format!("{c:?}: the level is 0..255"))?,
            ),
            None => (c.as_str(), 0),
        };
        out.push(Condition::Claim {
            claim_type: claim_type(t)?,
            min_level: level,
            issuers: issuers.to_vec(),
        });
    }
    for t in none {
        out.push(Condition::NoClaim {
            claim_type: claim_type(t)?,
        });
    }
    if !within.is_empty() {
        out.push(Condition::JurisdictionIn(codes(within)?));
    }
    if !outside.is_empty() {
        out.push(Condition::JurisdictionNotIn(codes(outside)?));
    }
    Ok(out)
}

fn rules(a: &RuleArgs) -> Result<AssetRules> {
    let velocity = match &a.velocity {
        None => None,
        Some(v) => {
            let (amount, period) = v
                .split_once('/')
                .context("--velocity is AMOUNT/PERIOD_MS")?;
            Some(Velocity {
                amount: amount.parse().context("--velocity amount")?,
                period_ms: period.parse().context("--velocity period in ms")?,
            })
        }
    };
    let rules = AssetRules {
        sender: conditions(
            &a.sender_claim,
            &a.claim_issuer,
            &a.sender_no_claim,
            &a.sender_jurisdiction_in,
            &a.sender_jurisdiction_not_in,
        )?,
        receiver: conditions(
            &a.receiver_claim,
            &a.claim_issuer,
            &a.receiver_no_claim,
            &a.receiver_jurisdiction_in,
            &a.receiver_jurisdiction_not_in,
        )?,
        max_holders: a.max_holders,
        max_balance: a.max_balance,
        velocity,
        travel_threshold: a.travel_threshold,
    };
    if rules.is_empty() {
        bail!("no rule given (use `compliance rule clear` to remove them)");
    }
    rules.validate().map_err(|e| anyhow::anyhow!(e))?;
    Ok(rules)
}

fn comply(tx: TxOptions, call: ComplianceCall) -> Result<()> {
    send(tx, Payload::Compliance(call))
}

pub(super) fn command(c: ComplianceCommand) -> Result<()> {
    match c {
        ComplianceCommand::Rule(RuleCommand::Set(a)) => {
            let r = rules(&a)?;
            comply(
                a.tx,
                ComplianceCall::SetRules {
                    asset: a.asset,
                    rules: r,
                },
            )
        }
        ComplianceCommand::Rule(RuleCommand::Clear(a)) => comply(
            a.tx,
            ComplianceCall::SetRules {
                asset: a.asset,
                rules: AssetRules::default(),
            },
        ),
        ComplianceCommand::Rule(RuleCommand::Show { asset, rpc }) => print_json(
            &RpcClient::new(&rpc.rpc)
                .call::<Value>("compliance_getRules", json!([asset.to_hex()]))?,
        ),
        ComplianceCommand::Pause(a) => comply(
            a.tx,
            ComplianceCall::SetPaused {
                asset: a.asset,
                paused: true,
            },
        ),
        ComplianceCommand::Resume(a) => comply(
            a.tx,
            ComplianceCall::SetPaused {
                asset: a.asset,
                paused: false,
            },
        ),
        ComplianceCommand::Block {
            address,
            reason,
            tx,
        } => comply(
            tx,
            ComplianceCall::SetBlocked {
                address,
                blocked: true,
                reason,
            },
        ),
        ComplianceCommand::Unblock { address, tx } => comply(
            tx,
            ComplianceCall::SetBlocked {
                address,
                blocked: false,
                reason: String::new(),
            },
        ),
        ComplianceCommand::Blocked { address, rpc } => {
            let client = RpcClient::new(&rpc.rpc);
            print_json(&match address {
                Some(a) => client.call::<Value>("compliance_isBlocked", json!([a.to_string()]))?,
                None => client.call::<Value>("compliance_getBlocked", json!([]))?,
            })
        }
        ComplianceCommand::Check {
            asset,
            from,
            to,
            amount,
            travel_record,
            rpc,
        } => print_json(&RpcClient::new(&rpc.rpc).call::<Value>(
            "compliance_checkTransfer",
            json!([{"asset": asset.to_hex(), "from": from.to_string(), "to": to.to_string(),
                        "amount": amount.to_string(), "travel_record": travel_record}]),
        )?),
        ComplianceCommand::Report {
            asset,
            from,
            to,
            format,
            out,
            rpc,
        } => report(&RpcClient::new(&rpc.rpc), asset, from, to, &format, out),
    }
}

/// CSV columns of a report.
const COLUMNS: [&str; 11] = [
    "height",
    "time_ms",
    "transaction",
    "index",
    "sender",
    "module",
    "event",
    "from",
    "to",
    "amount",
    "rule",
];

fn csv_field(v: &Value) -> String {
    let s = match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// Pages through the range and writes every row.
fn report(
    client: &RpcClient,
    asset: AssetId,
    from: u64,
    to: Option<u64>,
    format: &str,
    out: Option<PathBuf>,
) -> Result<()> {
    let mut rows: Vec<Value> = Vec::new();
    let mut at = from;
    let mut last;
    loop {
        let page: Value = client.call(
            "compliance_report",
            json!([asset.to_hex(), {"from_height": at, "to_height": to.unwrap_or(u64::MAX)}]),
        )?;
        last = page["to_height"].as_u64().unwrap_or(at);
        rows.extend(page["rows"].as_array().cloned().unwrap_or_default());
        match page["next_height"].as_u64() {
            Some(n) if n > at => at = n,
            _ => break,
        }
    }
    let mut w: Box<dyn std::io::Write> = match &out {
        Some(p) => Box::new(
            std::fs::File::create(p).with_context(|| format!("cannot write {}", p.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    if format == "json" {
        let doc =
            json!({"asset": asset.to_hex(), "from_height": from, "to_height": last, "rows": rows});
        writeln!(w, "{}", serde_json::to_string_pretty(&doc)?)?;
    } else {
        writeln!(w, "{}", COLUMNS.join(","))?;
        for r in &rows {
            let line: Vec<String> = COLUMNS.iter().map(|c| csv_field(&r[*c])).collect();
            writeln!(w, "{}", line.join(","))?;
        }
    }
    w.flush()?;
    Ok(())
}
