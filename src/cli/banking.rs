//! `mameynode asset …`, `mameynode balances` and `mameynode history`: issued assets from the
//! command line (INTERFACES §11).

use anyhow::{bail, Context as _, Result};
use clap::{Args, Subcommand};
use mameynode::keys;
use mameynode::modules::banking::{asset_id, AssetId, BankCall, Output, Policy, Renounce};
use mameynode::rpc::client::RpcClient;
use mameynode::types::{Address, Payload};
use serde_json::json;

use super::{print_json, send, send_quiet, AccountArgs, RpcArg, TxOptions};

#[derive(Subcommand)]
pub(super) enum AssetCommand {
    /// Create an asset issued by the key's account; prints its id.
    Create(CreateArgs),
    /// Mint --amount to --to (issuer only).
    Mint {
        #[arg(long)]
        asset: AssetId,
        #[arg(long)]
        to: Address,
        #[arg(long)]
        amount: u128,
        #[command(flatten)]
        tx: TxOptions,
    },
    /// Burn --amount of what the key's account holds.
    Burn {
        #[arg(long)]
        asset: AssetId,
        #[arg(long)]
        amount: u128,
        #[command(flatten)]
        tx: TxOptions,
    },
    /// Freeze a holder: it may then only send back to the issuer (issuer only).
    Freeze(HolderArgs),
    /// Lift a holder's freeze (issuer only).
    Unfreeze(HolderArgs),
    /// Freeze the whole asset: only transfers to and from the issuer go through.
    FreezeAll(AssetArgs),
    /// Lift the asset's global freeze.
    UnfreezeAll(AssetArgs),
    /// Take --amount back from --from; it is burned (assets created with --clawback).
    Clawback {
        #[arg(long)]
        asset: AssetId,
        #[arg(long)]
        from: Address,
        #[arg(long)]
        amount: u128,
        #[command(flatten)]
        tx: TxOptions,
    },
    /// Authorize a holder of an --auth-required asset to receive it.
    Authorize(HolderArgs),
    /// Revoke a holder's authorization.
    Revoke(HolderArgs),
    /// Hand the issuer role to another address.
    SetIssuer {
        #[arg(long)]
        asset: AssetId,
        #[arg(long)]
        issuer: Address,
        #[command(flatten)]
        tx: TxOptions,
    },
    /// Change the name and metadata URI.
    SetMetadata {
        #[arg(long)]
        asset: AssetId,
        #[arg(long, default_value = "")]
        name: String,
        #[arg(long, default_value = "")]
        uri: String,
        #[command(flatten)]
        tx: TxOptions,
    },
    /// Give something up for good: freeze, mint or changes (name, metadata, issuer).
    Renounce {
        #[arg(long)]
        asset: AssetId,
        #[arg(long, value_parser = ["freeze", "mint", "changes"])]
        what: String,
        #[command(flatten)]
        tx: TxOptions,
    },
    /// Send several outputs at once, all or nothing: --output ASSET:ADDRESS:AMOUNT (repeat;
    /// ASSET `native` for the native asset).
    MultiSend {
        #[arg(long = "output", required = true)]
        outputs: Vec<String>,
        #[command(flatten)]
        tx: TxOptions,
    },
    /// Print an asset as JSON (as banking_getAsset).
    Show {
        id: AssetId,
        #[command(flatten)]
        rpc: RpcArg,
    },
    /// Print every asset as JSON, a page at a time.
    List(PageArgs),
    /// Print an asset's holders as JSON, a page at a time.
    Holders {
        id: AssetId,
        #[command(flatten)]
        page: PageArgs,
    },
}

#[derive(Args)]
pub(super) struct CreateArgs {
    /// 1 to 12 characters A-Z, 0-9; unique per issuer (the id derives from issuer and symbol).
    #[arg(long)]
    symbol: String,
    /// 0 to 18.
    #[arg(long)]
    decimals: u8,
    #[arg(long, default_value = "")]
    name: String,
    /// Fixed maximum supply, in base units.
    #[arg(long)]
    max_supply: Option<u128>,
    /// Minted to the issuer at creation, in base units.
    #[arg(long, default_value_t = 0)]
    initial_supply: u128,
    /// No minting after creation (the initial supply is the supply).
    #[arg(long)]
    fixed: bool,
    /// Holders other than the issuer may burn what they hold.
    #[arg(long)]
    holder_burnable: bool,
    /// The issuer may freeze holders and the whole asset.
    #[arg(long)]
    freezable: bool,
    /// The issuer may take amounts back (only settable now, as on XRPL and Stellar).
    #[arg(long)]
    clawback: bool,
    /// Holders must be authorized by the issuer before they can receive.
    #[arg(long)]
    auth_required: bool,
    #[arg(long, default_value = "")]
    metadata_uri: String,
    #[command(flatten)]
    tx: TxOptions,
}

#[derive(Args)]
pub(super) struct HolderArgs {
    #[arg(long)]
    asset: AssetId,
    #[arg(long)]
    holder: Address,
    #[command(flatten)]
    tx: TxOptions,
}

#[derive(Args)]
pub(super) struct AssetArgs {
    #[arg(long)]
    asset: AssetId,
    #[command(flatten)]
    tx: TxOptions,
}

#[derive(Args)]
pub(super) struct PageArgs {
    /// Entries per page (at most 1000).
    #[arg(long)]
    limit: Option<usize>,
    /// The `next_cursor` of the previous page.
    #[arg(long)]
    cursor: Option<String>,
    #[command(flatten)]
    rpc: RpcArg,
}

/// `mameynode history ADDRESS`.
#[derive(Args)]
pub(super) struct HistoryArgs {
    #[command(flatten)]
    account: AccountArgs,
    /// Entries per page (at most 1000).
    #[arg(long)]
    limit: Option<usize>,
    /// The `next_cursor` of the previous page.
    #[arg(long)]
    cursor: Option<String>,
}

fn page(limit: Option<usize>, cursor: Option<String>) -> serde_json::Value {
    json!({"limit": limit, "cursor": cursor})
}

fn parse_output(s: &str) -> Result<Output> {
    let mut parts = s.splitn(3, ':');
    let (Some(asset), Some(to), Some(amount)) = (parts.next(), parts.next(), parts.next()) else {
        bail!("--output {s:?}: expected ASSET:ADDRESS:AMOUNT (ASSET `native` or an asset id)");
    };
    Ok(Output {
        asset: match asset {
            "native" => None,
            id => Some(
                id.parse()
                    .with_context(|| format!("--output {s:?}: asset id"))?,
            ),
        },
        to: to
            .parse()
            .with_context(|| format!("--output {s:?}: address"))?,
        amount: amount
            .parse()
            .with_context(|| format!("--output {s:?}: amount"))?,
    })
}

pub(super) fn asset_command(c: AssetCommand) -> Result<()> {
    let bank = |tx: TxOptions, call: BankCall| send(tx, Payload::Bank(call));
    match c {
        AssetCommand::Create(a) => {
            let key = keys::read(&a.tx.key)?;
            let id = asset_id(&keys::address_of(&key), &a.symbol);
            let call = BankCall::CreateAsset {
                symbol: a.symbol,
                name: a.name,
                decimals: a.decimals,
                max_supply: a.max_supply,
                initial_supply: a.initial_supply,
                policy: Policy {
                    mintable: !a.fixed,
                    holder_burnable: a.holder_burnable,
                    freezable: a.freezable,
                    clawback: a.clawback,
                    auth_required: a.auth_required,
                },
                metadata_uri: a.metadata_uri,
            };
            send_quiet(a.tx, Payload::Bank(call))?;
            println!("{id}");
            Ok(())
        }
        AssetCommand::Mint {
            asset,
            to,
            amount,
            tx,
        } => bank(tx, BankCall::Mint { asset, to, amount }),
        AssetCommand::Burn { asset, amount, tx } => bank(tx, BankCall::Burn { asset, amount }),
        AssetCommand::Freeze(h) => bank(
            h.tx,
            BankCall::SetFrozen {
                asset: h.asset,
                holder: h.holder,
                frozen: true,
            },
        ),
        AssetCommand::Unfreeze(h) => bank(
            h.tx,
            BankCall::SetFrozen {
                asset: h.asset,
                holder: h.holder,
                frozen: false,
            },
        ),
        AssetCommand::FreezeAll(a) => bank(
            a.tx,
            BankCall::SetGlobalFrozen {
                asset: a.asset,
                frozen: true,
            },
        ),
        AssetCommand::UnfreezeAll(a) => bank(
            a.tx,
            BankCall::SetGlobalFrozen {
                asset: a.asset,
                frozen: false,
            },
        ),
        AssetCommand::Clawback {
            asset,
            from,
            amount,
            tx,
        } => bank(
            tx,
            BankCall::Clawback {
                asset,
                from,
                amount,
            },
        ),
        AssetCommand::Authorize(h) => bank(
            h.tx,
            BankCall::SetAuthorized {
                asset: h.asset,
                holder: h.holder,
                authorized: true,
            },
        ),
        AssetCommand::Revoke(h) => bank(
            h.tx,
            BankCall::SetAuthorized {
                asset: h.asset,
                holder: h.holder,
                authorized: false,
            },
        ),
        AssetCommand::SetIssuer { asset, issuer, tx } => {
            bank(tx, BankCall::SetIssuer { asset, issuer })
        }
        AssetCommand::SetMetadata {
            asset,
            name,
            uri,
            tx,
        } => bank(
            tx,
            BankCall::UpdateMetadata {
                asset,
                name,
                metadata_uri: uri,
            },
        ),
        AssetCommand::Renounce { asset, what, tx } => {
            let what = match what.as_str() {
                "freeze" => Renounce::Freeze,
                "mint" => Renounce::Mint,
                _ => Renounce::Changes,
            };
            bank(tx, BankCall::Renounce { asset, what })
        }
        AssetCommand::MultiSend { outputs, tx } => {
            let outputs = outputs
                .iter()
                .map(|o| parse_output(o))
                .collect::<Result<Vec<_>>>()?;
            bank(tx, BankCall::MultiSend { outputs })
        }
        AssetCommand::Show { id, rpc } => print_json(
            &RpcClient::new(&rpc.rpc)
                .call::<serde_json::Value>("banking_getAsset", json!([id.to_hex()]))?,
        ),
        AssetCommand::List(p) => {
            print_json(&RpcClient::new(&p.rpc.rpc).call::<serde_json::Value>(
                "banking_listAssets",
                json!([page(p.limit, p.cursor)]),
            )?)
        }
        AssetCommand::Holders { id, page: p } => {
            print_json(&RpcClient::new(&p.rpc.rpc).call::<serde_json::Value>(
                "banking_getHolders",
                json!([id.to_hex(), page(p.limit, p.cursor)]),
            )?)
        }
    }
}

pub(super) fn balances(a: AccountArgs) -> Result<()> {
    print_json(
        &RpcClient::new(&a.rpc.rpc)
            .call::<serde_json::Value>("banking_getBalances", json!([a.address.to_string()]))?,
    )
}

pub(super) fn history(a: HistoryArgs) -> Result<()> {
    print_json(
        &RpcClient::new(&a.account.rpc.rpc).call::<serde_json::Value>(
            "mamey_getAccountTransactions",
            json!([a.account.address.to_string(), page(a.limit, a.cursor)]),
        )?,
    )
}
