//! `mameynode pay …`, `escrow …`, `standing-order …`, `invoice …`: payments with ISO 20022
//! references, batches from a CSV file, escrows, standing orders and invoices (INTERFACES §12).

use std::path::PathBuf;

use anyhow::{bail, Context as _, Result};
use clap::{Args, Subcommand};
use mameynode::codec::Encode;
use mameynode::modules::banking::AssetId;
use mameynode::modules::payments::{
    object_id, OnFailure, PaymentOrder, PaymentsCall, Period, References, Remittance, Uetr,
};
use mameynode::rpc::client::RpcClient;
use mameynode::types::{Address, Hash, Payload};
use serde_json::{json, Value};

use super::{print_json, send, send_quiet, RpcArg, TxOptions};

/// The references a payment carries.
#[derive(Args, Clone, Default)]
pub(super) struct RefArgs {
    /// Unique end-to-end transaction reference: a UUID v4 (ISO 20022 UETR).
    #[arg(long)]
    uetr: Option<String>,
    /// End-to-end id (ISO 20022 EndToEndId, up to 35 characters).
    #[arg(long)]
    end_to_end_id: Option<String>,
    /// Unstructured remittance information (up to 140 characters).
    #[arg(long, conflicts_with = "creditor_reference")]
    remittance: Option<String>,
    /// Structured creditor reference (ISO 11649, RF…).
    #[arg(long)]
    creditor_reference: Option<String>,
    /// ISO 20022 purpose code (e.g. SALA, RENT, SUPP).
    #[arg(long)]
    purpose: Option<String>,
    /// Destination tag: the beneficiary inside the receiving account (exchanges require one).
    #[arg(long)]
    destination_tag: Option<u32>,
    /// Send even if a payment with this UETR is already on the chain (by default `pay` refuses:
    /// a UETR names one payment, and a retry must not pay twice).
    #[arg(long)]
    allow_duplicate_uetr: bool,
}

impl RefArgs {
    fn references(self) -> Result<References> {
        let uetr = self
            .uetr
            .map(|u| Uetr::parse(&u))
            .transpose()
            .map_err(|e| anyhow::anyhow!("--uetr: {e}"))?;
        let remittance = match (self.remittance, self.creditor_reference) {
            (Some(t), _) => Some(Remittance::Unstructured(t)),
            (None, Some(r)) => Some(Remittance::CreditorReference(r)),
            (None, None) => None,
        };
        Ok(References {
            end_to_end_id: self.end_to_end_id,
            uetr,
            remittance,
            purpose: self.purpose,
            destination_tag: self.destination_tag,
        })
    }
}

/// What a payment moves, to whom.
#[derive(Args, Clone)]
pub(super) struct PaymentArgs {
    /// Recipient address (mamey1...).
    #[arg(long)]
    to: Address,
    /// Amount in base units.
    #[arg(long)]
    amount: u128,
    /// An issued asset's id (without it: the native asset).
    #[arg(long)]
    asset: Option<AssetId>,
    #[command(flatten)]
    refs: RefArgs,
}

impl PaymentArgs {
    fn order(self) -> Result<PaymentOrder> {
        Ok(PaymentOrder {
            asset: self.asset,
            to: self.to,
            amount: self.amount,
            refs: self.refs.references()?,
        })
    }
}

/// `mameynode pay`: one payment, or a subcommand. (The payment's flags are spelled out rather
/// than flattened from [`PaymentArgs`] and [`TxOptions`]: they are required only without a
/// subcommand.)
#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(super) struct PayArgs {
    #[command(subcommand)]
    command: Option<PayCommand>,
    /// Recipient address (mamey1...).
    #[arg(long)]
    to: Option<Address>,
    /// Amount in base units.
    #[arg(long)]
    amount: Option<u128>,
    /// An issued asset's id (without it: the native asset).
    #[arg(long)]
    asset: Option<AssetId>,
    #[command(flatten)]
    refs: RefArgs,
    /// Key file of the sender.
    #[arg(long)]
    key: Option<PathBuf>,
    /// Fee in base units (default: the chain's minimum fee).
    #[arg(long)]
    fee: Option<u64>,
    /// Nonce (default: the account's next nonce, counting its pending transactions).
    #[arg(long)]
    nonce: Option<u64>,
    /// Wait until the transaction is committed (exit 0) or rejected (exit non-zero).
    #[arg(long)]
    wait: bool,
    /// How long --wait waits before giving up.
    #[arg(long, default_value_t = 60)]
    timeout_secs: u64,
    #[command(flatten)]
    rpc: RpcArg,
}

#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum PayCommand {
    /// Pay every line of a CSV file `to,amount[,asset[,end_to_end_id[,remittance]]]` in batches
    /// (all or nothing per batch); prints one transaction id per batch.
    Batch {
        #[arg(long)]
        file: PathBuf,
        /// Outputs per batch (at most the chain's payments.batch_outputs_max).
        #[arg(long, default_value_t = 256)]
        chunk: usize,
        #[command(flatten)]
        tx: TxOptions,
    },
    /// Find a payment by UETR, by sender and end-to-end id, or by transaction id (JSON).
    Find {
        #[arg(long)]
        uetr: Option<String>,
        #[arg(long, requires = "end_to_end_id")]
        sender: Option<Address>,
        #[arg(long)]
        end_to_end_id: Option<String>,
        #[arg(long)]
        tx: Option<Hash>,
        #[command(flatten)]
        rpc: RpcArg,
    },
    /// Require (or stop requiring) a destination tag on payments to the key's account.
    RequireTag {
        #[arg(long, action = clap::ArgAction::Set)]
        required: bool,
        #[command(flatten)]
        tx: TxOptions,
    },
}

// Parsed once per process: the size of a command does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
pub(super) enum EscrowCommand {
    /// Lock funds for a recipient; prints the escrow id.
    Create {
        #[command(flatten)]
        payment: PaymentArgs,
        /// Block time (ms since the epoch) from which it can finish.
        #[arg(long)]
        finish_after_ms: Option<u64>,
        /// Block time from which the sender can cancel it (and it can no longer finish).
        #[arg(long)]
        cancel_after_ms: Option<u64>,
        /// SHA-256 (hex) of the preimage that finishes it.
        #[arg(long)]
        condition: Option<Hash>,
        #[command(flatten)]
        tx: TxOptions,
    },
    /// Pay an escrow to its recipient (anyone, once its conditions hold).
    Finish {
        #[arg(long)]
        escrow: Hash,
        /// The condition's preimage, hex.
        #[arg(long)]
        preimage: Option<String>,
        #[command(flatten)]
        tx: TxOptions,
    },
    /// Return an expired escrow to its sender (the sender only).
    Cancel {
        #[arg(long)]
        escrow: Hash,
        #[command(flatten)]
        tx: TxOptions,
    },
    /// Print an open escrow as JSON.
    Show {
        id: Hash,
        #[command(flatten)]
        rpc: RpcArg,
    },
    /// Print the open escrows an address sends or receives as JSON.
    List {
        address: Address,
        #[command(flatten)]
        rpc: RpcArg,
    },
}

// Parsed once per process: the size of a command does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
pub(super) enum StandingOrderCommand {
    /// Pay a recipient every period; prints the order id.
    Create {
        #[command(flatten)]
        payment: PaymentArgs,
        /// Period in blocks.
        #[arg(
            long,
            conflicts_with = "every_ms",
            required_unless_present = "every_ms"
        )]
        every_blocks: Option<u64>,
        /// Period in block time (ms, at least 1000).
        #[arg(long)]
        every_ms: Option<u64>,
        /// How many payments (default: until cancelled).
        #[arg(long)]
        count: Option<u32>,
        /// End the order at the first attempt that cannot pay (default: retry next period).
        #[arg(long)]
        stop_on_failure: bool,
        #[command(flatten)]
        tx: TxOptions,
    },
    /// Cancel a standing order (its owner only).
    Cancel {
        #[arg(long)]
        order: Hash,
        #[command(flatten)]
        tx: TxOptions,
    },
    /// Print an active standing order as JSON.
    Show {
        id: Hash,
        #[command(flatten)]
        rpc: RpcArg,
    },
    /// Print an address's active standing orders as JSON.
    List {
        address: Address,
        #[command(flatten)]
        rpc: RpcArg,
    },
}

// Parsed once per process: the size of a command does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
pub(super) enum InvoiceCommand {
    /// Request a payment to the key's account; prints the invoice id.
    Create {
        #[arg(long)]
        amount: u128,
        #[arg(long)]
        asset: Option<AssetId>,
        /// Block time (ms since the epoch) at which it expires.
        #[arg(long)]
        expires_ms: Option<u64>,
        #[command(flatten)]
        refs: RefArgs,
        #[command(flatten)]
        tx: TxOptions,
    },
    /// Pay an open invoice.
    Pay {
        #[arg(long)]
        invoice: Hash,
        #[command(flatten)]
        tx: TxOptions,
    },
    /// Cancel an open invoice (its payee only).
    Cancel {
        #[arg(long)]
        invoice: Hash,
        #[command(flatten)]
        tx: TxOptions,
    },
    /// Print an invoice and its status (open, paid, expired, cancelled) as JSON.
    Show {
        id: Hash,
        #[command(flatten)]
        rpc: RpcArg,
    },
    /// Print the invoices an address issued as JSON.
    List {
        address: Address,
        #[command(flatten)]
        rpc: RpcArg,
    },
}

fn query(rpc: &RpcArg, method: &str, params: Value) -> Result<()> {
    print_json(&RpcClient::new(&rpc.rpc).call::<Value>(method, params)?)
}

/// Sends a call that creates an object, and prints the object's id.
fn create(tx: TxOptions, kind: &str, call: PaymentsCall) -> Result<()> {
    let sent = send_quiet(tx, Payload::Payments(call))?;
    println!("{}", object_id(kind, &sent.sender, sent.nonce));
    Ok(())
}

pub(super) fn pay_command(a: PayArgs) -> Result<()> {
    match a.command {
        None => {
            let (Some(to), Some(amount), Some(key)) = (a.to, a.amount, a.key) else {
                bail!("pay needs --key, --to and --amount (or a subcommand; see --help)");
            };
            let allow_duplicate = a.refs.allow_duplicate_uetr;
            let payment = PaymentArgs {
                to,
                amount,
                asset: a.asset,
                refs: a.refs,
            };
            let tx = TxOptions {
                key,
                fee: a.fee,
                nonce: a.nonce,
                wait: a.wait,
                timeout_secs: a.timeout_secs,
                rpc: a.rpc,
            };
            let order = payment.order()?;
            if let (Some(u), false) = (&order.refs.uetr, allow_duplicate) {
                refuse_reused_uetr(&tx.rpc, u)?;
            }
            send(tx, Payload::Payments(PaymentsCall::Pay(order)))
        }
        Some(PayCommand::Batch { file, chunk, tx }) => batch(&file, chunk, tx),
        Some(PayCommand::Find {
            uetr,
            sender,
            end_to_end_id,
            tx,
            rpc,
        }) => match (uetr, sender, end_to_end_id, tx) {
            (Some(u), None, None, None) => query(&rpc, "payments_getByUetr", json!([u])),
            (None, Some(s), Some(e), None) => {
                query(&rpc, "payments_getByEndToEndId", json!([s.to_string(), e]))
            }
            (None, None, None, Some(t)) => {
                query(&rpc, "payments_getPayments", json!([t.to_string()]))
            }
            _ => bail!("give --uetr, or --sender with --end-to-end-id, or --tx"),
        },
        Some(PayCommand::RequireTag { required, tx }) => send(
            tx,
            Payload::Payments(PaymentsCall::SetAccountOptions {
                require_destination_tag: required,
            }),
        ),
    }
}

/// Client-side idempotency: a UETR already on the chain is not sent again (the chain itself
/// indexes references and does not refuse them).
fn refuse_reused_uetr(rpc: &RpcArg, u: &Uetr) -> Result<()> {
    match RpcClient::new(&rpc.rpc).call::<Value>("payments_getByUetr", json!([u.to_string()])) {
        Ok(p) => bail!(
            "UETR {u} was already used by payment {} ({}): a retry must not pay twice (--allow-duplicate-uetr sends anyway)",
            p["transaction"].as_str().unwrap_or("?"),
            p["status"].as_str().unwrap_or("?")
        ),
        Err(e) if e.code() == Some(3000) => Ok(()),
        Err(e) => Err(e).context("checking the UETR is unused"),
    }
}

/// One batch transaction per `chunk` lines of the file, sent in order with consecutive nonces.
fn batch(file: &PathBuf, chunk: usize, mut tx: TxOptions) -> Result<()> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let mut outputs = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.splitn(5, ',').map(str::trim).collect();
        let at = || format!("{}:{}", file.display(), n + 1);
        if f.len() < 2 {
            bail!(
                "{}: expected to,amount[,asset[,end_to_end_id[,remittance]]]",
                at()
            );
        }
        let opt = |i: usize| f.get(i).filter(|s| !s.is_empty()).map(|s| s.to_string());
        outputs.push(PaymentOrder {
            to: f[0].parse().with_context(at)?,
            amount: f[1].parse().with_context(at)?,
            asset: opt(2).map(|a| a.parse()).transpose().with_context(at)?,
            refs: References {
                end_to_end_id: opt(3),
                remittance: opt(4).map(Remittance::Unstructured),
                ..References::default()
            },
        });
    }
    if outputs.is_empty() {
        bail!("{}: no payments", file.display());
    }
    // As many outputs per transaction as the chunk and the node's size limit allow.
    let size_max = RpcClient::new(&tx.rpc.rpc)
        .ingest_info()
        .map_or(1024, |i| i.tx_bytes_max);
    let batches = pack(outputs, chunk.max(1), size_max)?;
    let mut nonce = None;
    for part in batches {
        tx.nonce = nonce;
        let sent = send_quiet(tx.clone(), Payload::Payments(PaymentsCall::Batch(part)))?;
        println!("{}", sent.id);
        nonce = Some(sent.nonce + 1);
    }
    Ok(())
}

/// Splits outputs into batches of at most `chunk` whose signed transaction fits `size_max`.
fn pack(
    outputs: Vec<PaymentOrder>,
    chunk: usize,
    size_max: usize,
) -> Result<Vec<Vec<PaymentOrder>>> {
    // Everything of a signed transaction but its payload (version, chain, sender, nonce, fee,
    // signature), with room to spare.
    const ENVELOPE: usize = 160;
    let size = |b: &[PaymentOrder]| {
        ENVELOPE
            + Payload::Payments(PaymentsCall::Batch(b.to_vec()))
                .to_bytes()
                .len()
    };
    let mut batches: Vec<Vec<PaymentOrder>> = Vec::new();
    let mut current = Vec::new();
    for o in outputs {
        current.push(o);
        if current.len() > chunk || size(&current) > size_max {
            let o = current.pop().expect("just pushed");
            if current.is_empty() {
                bail!("one payment alone is over the node's {size_max}-byte transaction limit");
            }
            batches.push(std::mem::take(&mut current));
            current.push(o);
        }
    }
    batches.push(current);
    Ok(batches)
}

pub(super) fn escrow_command(c: EscrowCommand) -> Result<()> {
    match c {
        EscrowCommand::Create {
            payment,
            finish_after_ms,
            cancel_after_ms,
            condition,
            tx,
        } => create(
            tx,
            "escrow",
            PaymentsCall::EscrowCreate {
                payment: payment.order()?,
                finish_after_ms,
                cancel_after_ms,
                condition,
            },
        ),
        EscrowCommand::Finish {
            escrow,
            preimage,
            tx,
        } => {
            let preimage = preimage
                .map(|p| hex::decode(p.trim_start_matches("0x")))
                .transpose()
                .context("--preimage is hex")?;
            send(
                tx,
                Payload::Payments(PaymentsCall::EscrowFinish { escrow, preimage }),
            )
        }
        EscrowCommand::Cancel { escrow, tx } => {
            send(tx, Payload::Payments(PaymentsCall::EscrowCancel { escrow }))
        }
        EscrowCommand::Show { id, rpc } => {
            query(&rpc, "payments_getEscrow", json!([id.to_string()]))
        }
        EscrowCommand::List { address, rpc } => {
            query(&rpc, "payments_getEscrows", json!([address.to_string()]))
        }
    }
}

pub(super) fn standing_order_command(c: StandingOrderCommand) -> Result<()> {
    match c {
        StandingOrderCommand::Create {
            payment,
            every_blocks,
            every_ms,
            count,
            stop_on_failure,
            tx,
        } => {
            let period = match (every_blocks, every_ms) {
                (Some(b), _) => Period::Blocks(b),
                (None, Some(ms)) => Period::Millis(ms),
                (None, None) => bail!("give --every-blocks or --every-ms"),
            };
            create(
                tx,
                "standing-order",
                PaymentsCall::StandingOrderCreate {
                    payment: payment.order()?,
                    period,
                    count,
                    on_failure: if stop_on_failure {
                        OnFailure::Stop
                    } else {
                        OnFailure::Retry
                    },
                },
            )
        }
        StandingOrderCommand::Cancel { order, tx } => send(
            tx,
            Payload::Payments(PaymentsCall::StandingOrderCancel { order }),
        ),
        StandingOrderCommand::Show { id, rpc } => {
            query(&rpc, "payments_getStandingOrder", json!([id.to_string()]))
        }
        StandingOrderCommand::List { address, rpc } => query(
            &rpc,
            "payments_getStandingOrders",
            json!([address.to_string()]),
        ),
    }
}

pub(super) fn invoice_command(c: InvoiceCommand) -> Result<()> {
    match c {
        InvoiceCommand::Create {
            amount,
            asset,
            expires_ms,
            refs,
            tx,
        } => create(
            tx,
            "invoice",
            PaymentsCall::InvoiceCreate {
                asset,
                amount,
                expires_ms,
                refs: refs.references()?,
            },
        ),
        InvoiceCommand::Pay { invoice, tx } => {
            send(tx, Payload::Payments(PaymentsCall::InvoicePay { invoice }))
        }
        InvoiceCommand::Cancel { invoice, tx } => send(
            tx,
            Payload::Payments(PaymentsCall::InvoiceCancel { invoice }),
        ),
        InvoiceCommand::Show { id, rpc } => {
            query(&rpc, "payments_getInvoice", json!([id.to_string()]))
        }
        InvoiceCommand::List { address, rpc } => {
            query(&rpc, "payments_getInvoices", json!([address.to_string()]))
        }
    }
}
