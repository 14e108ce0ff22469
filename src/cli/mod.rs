//! Command-line interface (`mameynode --help`).

mod access;
mod banking;
mod compliance;
mod dex;
mod identity;
mod payments;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use clap::{Args, Parser, Subcommand};
use mameynode::config::{LogFormat, NodeConfig};
use mameynode::keys;
use mameynode::rpc::client::RpcClient;
use mameynode::rpc::TxStatus;
use mameynode::sigverify::gpu::{pack as gpu_pack, WORDS_PER_SIG as GPU_WORDS_PER_SIG};
use mameynode::sigverify::{
    verifier_for, Backend, BatchVerifier, CpuVerifier, GpuConfig, GpuVerifier, SigItem,
    VerifierSettings,
};
use mameynode::types::{Address, BankCall, Hash, Payload, StakingCall, Transaction};

const DEFAULT_RPC: &str = "http://127.0.0.1:8545";

#[derive(Parser)]
#[command(name = "mameynode", version, about = "MameyNode: a high-throughput ledger node", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a node.
    Run(RunArgs),
    /// Manage key files.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// API access: `access key new|revoke|list` manages API keys.
    #[command(subcommand)]
    Access(access::AccessCommand),
    /// TLS material: `tls self-signed --out DIR` writes a development certificate and key.
    #[command(subcommand)]
    Tls(TlsCommand),
    /// Sign and send a transfer (of the native asset, or of --asset); prints the transaction id.
    Transfer(TransferArgs),
    /// Issued assets: create, mint, burn, freeze, claw back, authorize; show and list.
    #[command(subcommand)]
    Asset(banking::AssetCommand),
    /// Print the issued assets an address holds as JSON.
    Balances(AccountArgs),
    /// Print an address's transactions across every module as JSON, newest first.
    History(banking::HistoryArgs),
    /// Identity: DIDs, the trusted issuers registry, claims, verifiable credentials.
    #[command(subcommand)]
    Identity(identity::IdentityCommand),
    /// Compliance: asset rules, pause, the blocked list, dry runs and reports.
    #[command(subcommand)]
    Compliance(compliance::ComplianceCommand),
    /// Pay with ISO 20022 references (UETR, end-to-end id, remittance, purpose, destination tag);
    /// prints the transaction id. Subcommands: batch payments from CSV, find a payment, require
    /// destination tags.
    Pay(payments::PayArgs),
    /// Escrows: lock funds until a time and/or a SHA-256 preimage; finish, cancel, show, list.
    #[command(subcommand)]
    Escrow(payments::EscrowCommand),
    /// Standing orders: pay a recipient every N blocks or T ms of block time.
    #[command(subcommand)]
    StandingOrder(payments::StandingOrderCommand),
    /// Invoices: payment requests paid exactly once.
    #[command(subcommand)]
    Invoice(payments::InvoiceCommand),
    /// DEX: markets, orders (limit, market, IOC, FOK, post-only, good-til), cancels, books,
    /// trades and statistics.
    #[command(subcommand)]
    Dex(dex::DexCommand),
    /// Staking (DPoS): register a validator, delegate, undelegate; show an address's stake.
    #[command(subcommand)]
    Stake(StakeCommand),
    /// Print the validator registry and the active set as JSON.
    Validators(RpcArg),
    /// Print an account as JSON.
    Account(AccountArgs),
    /// Print a transaction's status as JSON.
    Tx(TxArgs),
    /// Print a block as JSON.
    Block(BlockArgs),
    /// Print the node's status as JSON.
    Status(RpcArg),
    /// Print the pipeline's per-stage counters (items, refusals, busy time) as JSON.
    Stats(RpcArg),
    /// Verify signatures read as JSON lines {"pk","msg","sig"} (hex) on stdin; one {"valid":…} per line.
    Verify(VerifyArgs),
    /// Benchmarks.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// A local network of several validators.
    #[command(subcommand)]
    Devnet(DevnetCommand),
}

/// Stake moved to or from a validator.
#[derive(Args)]
struct StakeMove {
    #[arg(long)]
    validator: Address,
    #[arg(long)]
    amount: u64,
    #[command(flatten)]
    tx: TxOptions,
}

#[derive(Subcommand)]
enum StakeCommand {
    /// Make the key's account a validator candidate, bonding --amount of its own; it joins the
    /// active set at an epoch's end if its stake is among the top K.
    Register {
        /// Part of rewards the validator keeps, in basis points (0..=10000).
        #[arg(long)]
        commission_bps: u16,
        #[arg(long)]
        amount: u64,
        #[command(flatten)]
        tx: TxOptions,
    },
    /// Bond --amount of the key's balance to a validator.
    Delegate(StakeMove),
    /// Unbond --amount of the key's stake with a validator; it returns to the balance after the
    /// chain's unbonding period.
    Undelegate(StakeMove),
    /// Publish (or change) where the key's validator takes p2p connections, `IP:PORT` (what its
    /// `p2p.listen` is reached at): nodes dial it from the chain, with no config edits.
    SetEndpoint {
        #[arg(long)]
        endpoint: std::net::SocketAddr,
        #[command(flatten)]
        tx: TxOptions,
    },
    /// Print an address's delegations as JSON.
    Show(AccountArgs),
}

#[derive(Subcommand)]
enum DevnetCommand {
    /// Write configs, keys and one shared genesis for N validators under --out.
    Init {
        /// Number of validators.
        #[arg(long, default_value_t = 4)]
        validators: usize,
        /// Number of followers: nodes that follow the chain without voting (full nodes for RPC).
        #[arg(long, default_value_t = 0)]
        followers: usize,
        /// Directory to create (must not exist).
        #[arg(long)]
        out: PathBuf,
        /// Added to every port (to run several devnets side by side).
        #[arg(long, default_value_t = 0)]
        port_offset: u16,
    },
}

#[derive(Args)]
struct VerifyArgs {
    /// Signature backend: cpu, gpu (fails without a usable adapter) or auto.
    #[arg(long, default_value = "cpu")]
    backend: String,
    /// Lines verified together in one batch.
    #[arg(long, default_value_t = 1024)]
    batch: usize,
}

#[derive(Subcommand)]
enum TlsCommand {
    /// Write a self-signed certificate (`DIR/cert.pem`) and its key (`DIR/key.pem`, mode 0600)
    /// for development; never overwrites. Prints both paths.
    SelfSigned {
        /// Directory to write into (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// Names the certificate covers (IP addresses or DNS names); default 127.0.0.1 and
        /// localhost.
        #[arg(long = "name")]
        names: Vec<String>,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Raw signature-verification rate of a backend; prints one JSON line.
    Sigverify {
        /// Signature backend: cpu, gpu or auto.
        #[arg(long, default_value = "cpu")]
        backend: String,
        /// Signatures to verify (after a warm-up).
        #[arg(long, default_value_t = 65_536)]
        count: usize,
        /// Signatures per batch handed to the backend.
        #[arg(long, default_value_t = 1024)]
        batch: usize,
        /// Distinct signing keys.
        #[arg(long, default_value_t = 1024)]
        keys: usize,
        /// Signatures per batch equation (CPU backend).
        #[arg(long, default_value_t = CpuVerifier::default().chunk_size_max)]
        chunk: usize,
        /// Most signatures per GPU dispatch (GPU backends).
        #[arg(long, default_value_t = GpuConfig::default().dispatch_size_max)]
        dispatch: usize,
    },
}

#[derive(Args)]
struct RunArgs {
    /// Run a single-validator development chain, created in --data-dir on first start.
    #[arg(long)]
    dev: bool,
    /// Data directory (database; in dev mode also keys and genesis).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Node config file (TOML; see config/node.toml).
    #[arg(long)]
    config: Option<PathBuf>,
    /// JSON-RPC listen address (port 0 picks a free port; see DATA_DIR/endpoints.json).
    #[arg(long)]
    rpc_listen: Option<SocketAddr>,
    /// QUIC transaction ingest listen address (port 0 picks a free port).
    #[arg(long)]
    quic_listen: Option<SocketAddr>,
    /// Prometheus metrics listen address, served at /metrics (port 0 picks a free port).
    #[arg(long)]
    metrics_listen: Option<SocketAddr>,
    /// gRPC listen address (port 0 picks a free port).
    #[arg(long)]
    grpc_listen: Option<SocketAddr>,
    /// Block interval in milliseconds.
    #[arg(long)]
    block_interval_ms: Option<u64>,
    /// LMDB map size in MiB: the most the database can grow to.
    #[arg(long)]
    map_size_mb: Option<u64>,
    /// Log format: text or json.
    #[arg(long)]
    log_format: Option<LogFormatArg>,
    /// Serve every API over TLS with this PEM certificate chain (with --tls-key).
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormatArg {
    Text,
    Json,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a new key file and print its address.
    New {
        /// Where to write the key (refuses to overwrite).
        #[arg(long)]
        out: PathBuf,
        /// Encrypt it with the passphrase in MAMEY_KEY_PASSPHRASE or MAMEY_KEY_PASSPHRASE_FILE
        /// (scrypt and AES-256-GCM).
        #[arg(long)]
        encrypt: bool,
    },
    /// Print the address of a key file.
    Address {
        /// The key file.
        file: PathBuf,
    },
    /// Encrypt a plaintext key file in place with the passphrase in MAMEY_KEY_PASSPHRASE or
    /// MAMEY_KEY_PASSPHRASE_FILE.
    Encrypt { file: PathBuf },
    /// Write an encrypted key file back in plaintext (its passphrase from the environment).
    Decrypt { file: PathBuf },
    /// Encrypt a key file again under a new passphrase (the old one from the environment, the new
    /// one from --new-passphrase-file).
    ChangePassphrase {
        file: PathBuf,
        #[arg(long)]
        new_passphrase_file: PathBuf,
    },
}

#[derive(Args, Clone)]
struct RpcArg {
    /// JSON-RPC endpoint of the node.
    #[arg(long, default_value = DEFAULT_RPC)]
    rpc: String,
}

#[derive(Args)]
struct TransferArgs {
    /// Recipient address (mamey1...).
    #[arg(long)]
    to: Address,
    /// Amount in base units.
    #[arg(long)]
    amount: u128,
    /// An issued asset's id (without it: the native asset).
    #[arg(long)]
    asset: Option<mameynode::modules::banking::AssetId>,
    /// Travel rule (FATF R.16): the originating VASP's identifier (e.g. an LEI); with
    /// --travel-beneficiary and --travel-payload-hash the transfer carries the record.
    #[arg(long, requires_all = ["travel_beneficiary", "travel_payload_hash", "asset"])]
    travel_originator: Option<String>,
    /// The beneficiary VASP's identifier.
    #[arg(long, requires = "travel_originator")]
    travel_beneficiary: Option<String>,
    /// SHA-256 (hex) of the encrypted IVMS101 payload exchanged off chain.
    #[arg(long, requires = "travel_originator")]
    travel_payload_hash: Option<Hash>,
    #[command(flatten)]
    tx: TxOptions,
}

/// How a transaction is signed, sent and waited for.
#[derive(Args, Clone)]
struct TxOptions {
    /// Key file of the sender.
    #[arg(long)]
    key: PathBuf,
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

#[derive(Args)]
struct AccountArgs {
    /// Address (mamey1...).
    address: Address,
    #[command(flatten)]
    rpc: RpcArg,
}

#[derive(Args)]
struct TxArgs {
    /// Transaction id (64 hex digits).
    id: Hash,
    #[command(flatten)]
    rpc: RpcArg,
}

#[derive(Args)]
struct BlockArgs {
    /// Block height.
    height: u64,
    #[command(flatten)]
    rpc: RpcArg,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Typed errors already name their cause; add only causes not yet said.
            let mut message = e.to_string();
            for cause in e.chain().skip(1) {
                let c = cause.to_string();
                if !message.contains(&c) {
                    message.push_str(": ");
                    message.push_str(&c);
                }
            }
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(command: Command) -> Result<()> {
    match command {
        Command::Run(a) => run(a),
        Command::Keys(k) => keys_command(k),
        Command::Access(c) => access::command(c),
        Command::Tls(TlsCommand::SelfSigned { out, names }) => {
            let names = if names.is_empty() {
                mameynode::tls::DEV_NAMES
                    .iter()
                    .map(|s| s.to_string())
                    .collect()
            } else {
                names
            };
            let (cert, key) = mameynode::tls::write_self_signed(&out, &names)?;
            println!("{}", cert.display());
            println!("{}", key.display());
            Ok(())
        }
        Command::Devnet(DevnetCommand::Init {
            validators,
            followers,
            out,
            port_offset,
        }) => {
            let configs = mameynode::devnet::init(validators, followers, &out, port_offset)?;
            for c in configs {
                println!("{}", c.display());
            }
            Ok(())
        }
        Command::Transfer(a) => {
            let travel = match (
                a.travel_originator,
                a.travel_beneficiary,
                a.travel_payload_hash,
            ) {
                (Some(o), Some(b), Some(h)) => Some(mameynode::modules::banking::TravelRecord {
                    originator_vasp: o,
                    beneficiary_vasp: b,
                    payload_hash: h,
                }),
                _ => None,
            };
            let call = match a.asset {
                Some(asset) if travel.is_some() => BankCall::TransferWithTravel {
                    asset,
                    to: a.to,
                    amount: a.amount,
                    travel: travel.expect("checked"),
                },
                Some(asset) => BankCall::TransferAsset {
                    asset,
                    to: a.to,
                    amount: a.amount,
                },
                None => BankCall::Transfer {
                    to: a.to,
                    amount: u64::try_from(a.amount)
                        .context("native amounts are at most 2^64 - 1 base units")?,
                },
            };
            send(a.tx, Payload::Bank(call))
        }
        Command::Asset(c) => banking::asset_command(c),
        Command::Balances(a) => banking::balances(a),
        Command::History(a) => banking::history(a),
        Command::Identity(c) => identity::command(c),
        Command::Compliance(c) => compliance::command(c),
        Command::Pay(a) => payments::pay_command(a),
        Command::Escrow(c) => payments::escrow_command(c),
        Command::StandingOrder(c) => payments::standing_order_command(c),
        Command::Invoice(c) => payments::invoice_command(c),
        Command::Dex(c) => dex::command(c),
        Command::Stake(StakeCommand::Register {
            commission_bps,
            amount,
            tx,
        }) => send(
            tx,
            Payload::Staking(StakingCall::RegisterValidator {
                commission_bps,
                amount,
            }),
        ),
        Command::Stake(StakeCommand::Delegate(m)) => send(
            m.tx,
            Payload::Staking(StakingCall::Delegate {
                validator: m.validator,
                amount: m.amount,
            }),
        ),
        Command::Stake(StakeCommand::Undelegate(m)) => send(
            m.tx,
            Payload::Staking(StakingCall::Undelegate {
                validator: m.validator,
                amount: m.amount,
            }),
        ),
        Command::Stake(StakeCommand::SetEndpoint { endpoint, tx }) => {
            send(tx, Payload::Staking(StakingCall::SetEndpoint { endpoint }))
        }
        Command::Stake(StakeCommand::Show(a)) => {
            print_json(&RpcClient::new(&a.rpc.rpc).stake(&a.address)?)
        }
        Command::Validators(a) => print_json(&RpcClient::new(&a.rpc).validators()?),
        Command::Account(a) => print_json(&RpcClient::new(&a.rpc.rpc).account(&a.address)?),
        Command::Tx(a) => print_json(&RpcClient::new(&a.rpc.rpc).transaction(&a.id)?),
        Command::Block(a) => print_json(&RpcClient::new(&a.rpc.rpc).block(a.height)?),
        Command::Status(a) => print_json(&RpcClient::new(&a.rpc).status()?),
        Command::Stats(a) => print_json(&RpcClient::new(&a.rpc).pipeline_stats()?),
        Command::Verify(a) => verify(a),
        Command::Bench(BenchCommand::Sigverify {
            backend,
            count,
            batch,
            keys,
            chunk,
            dispatch,
        }) => bench_sigverify(&backend, count, batch, keys, chunk, dispatch),
    }
}

fn backend(name: &str, chunk: usize, dispatch: usize) -> Result<Box<dyn BatchVerifier>> {
    let mut settings = VerifierSettings::new(name.parse::<Backend>()?);
    settings.chunk_size_max = chunk.max(1);
    settings.gpu.dispatch_size_max = dispatch.max(1);
    Ok(verifier_for(&settings)?)
}

fn verify(a: VerifyArgs) -> Result<()> {
    use std::io::{BufRead, Write};
    let verifier = backend(
        &a.backend,
        CpuVerifier::default().chunk_size_max,
        GpuConfig::default().dispatch_size_max,
    )?;
    let batch_max = a.batch.max(1);
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut lines = stdin.lock().lines();
    loop {
        // Parse up to a batch of lines; keep each line's answer slot in order.
        let mut parsed: Vec<std::result::Result<VerifyLine, String>> = Vec::new();
        for line in lines.by_ref().take(batch_max) {
            parsed.push(parse_verify_line(&line?));
        }
        if parsed.is_empty() {
            break;
        }
        let items: Vec<SigItem<'_>> = parsed
            .iter()
            .filter_map(|p| p.as_ref().ok())
            .map(|(pk, msg, sig)| SigItem {
                public_key: pk,
                message: msg,
                signature: sig,
            })
            .collect();
        let mut answers = verifier.verify_batch(&items).into_iter();
        for p in &parsed {
            let line = match p {
                Ok(_) => serde_json::json!({ "valid": answers.next() == Some(true) }),
                Err(e) => serde_json::json!({ "valid": false, "error": e }),
            };
            writeln!(out, "{line}")?;
        }
        out.flush()?;
    }
    Ok(())
}

/// Public key, message and signature of one `verify` input line.
type VerifyLine = ([u8; 32], Vec<u8>, [u8; 64]);

fn parse_verify_line(line: &str) -> std::result::Result<VerifyLine, String> {
    let v: serde_json::Value =
        serde_json::from_str(line).map_err(|e| format!("not a JSON object: {e}"))?;
    let field = |name: &str| -> std::result::Result<Vec<u8>, String> {
        let s = v
            .get(name)
            .and_then(|x| x.as_str())
            .ok_or_else(|| format!("missing string field \"{name}\""))?;
        hex::decode(s).map_err(|e| format!("field \"{name}\": {e}"))
    };
    let pk: [u8; 32] = field("pk")?
        .try_into()
        .map_err(|v: Vec<u8>| format!("pk must be 32 bytes, got {}", v.len()))?;
    let sig: [u8; 64] = field("sig")?
        .try_into()
        .map_err(|v: Vec<u8>| format!("sig must be 64 bytes, got {}", v.len()))?;
    Ok((pk, field("msg")?, sig))
}

fn bench_sigverify(
    name: &str,
    count: usize,
    batch: usize,
    key_count: usize,
    chunk: usize,
    dispatch: usize,
) -> Result<()> {
    use ed25519_dalek::Signer;
    use rayon::prelude::*;
    if count == 0 || batch == 0 || key_count == 0 || dispatch == 0 {
        bail!("--count, --batch, --keys and --dispatch must be positive");
    }
    let verifier = backend(name, chunk, dispatch)?;
    let signing: Vec<ed25519_dalek::SigningKey> = (0..key_count)
        .into_par_iter()
        .map(|_| keys::generate())
        .collect();
    let sigs: Vec<([u8; 32], Vec<u8>, [u8; 64])> = (0..count)
        .into_par_iter()
        .map(|i| {
            let k = &signing[i % key_count];
            let msg = format!("mameynode bench message {i}").into_bytes();
            let sig = k.sign(&msg).to_bytes();
            (k.verifying_key().to_bytes(), msg, sig)
        })
        .collect();
    let items: Vec<SigItem<'_>> = sigs
        .iter()
        .map(|(pk, msg, sig)| SigItem {
            public_key: pk,
            message: msg,
            signature: sig,
        })
        .collect();
    // Warm up (page in tables, spin up the pool).
    let warm = items.len().min(batch);
    let _ = verifier.verify_batch(&items[..warm]);
    let started = Instant::now();
    let mut valid = 0usize;
    for chunk in items.chunks(batch) {
        valid += verifier.verify_batch(chunk).iter().filter(|v| **v).count();
    }
    let seconds = started.elapsed().as_secs_f64();
    if valid != count {
        bail!(
            "{} of {count} benchmark signatures failed to verify",
            count - valid
        );
    }
    let mut report = serde_json::json!({
        "backend": verifier.backend().name(),
        "adapter": match verifier.backend() {
            Backend::Cpu => format!("cpu ({} threads)", rayon::current_num_threads()),
            _ => verifier.describe(),
        },
        "count": count,
        "batch": batch,
        "keys": key_count,
        "chunk": chunk,
        "seconds": seconds,
        "sigs_per_sec": count as f64 / seconds,
    });
    if verifier.backend() == Backend::Gpu {
        // The two halves of the end-to-end figure: host packing (SHA-512 of every message, on all
        // cores) and the device round trip alone (upload, kernels, readback).
        let gpu = GpuVerifier::open(
            mameynode::sigverify::AdapterPolicy::AnyIncludingSoftware,
            &GpuConfig {
                dispatch_size_max: dispatch,
                ..GpuConfig::default()
            },
            CpuVerifier::new(chunk.max(1)),
        )?;
        let started = Instant::now();
        let packed: Vec<Vec<u32>> = items.chunks(batch).map(gpu_pack).collect();
        let pack_seconds = started.elapsed().as_secs_f64();
        let started = Instant::now();
        for words in &packed {
            gpu.verify_packed(words)?;
        }
        let device_seconds = started.elapsed().as_secs_f64();
        report["pack_sigs_per_sec"] = (count as f64 / pack_seconds).into();
        report["device_sigs_per_sec"] = (count as f64 / device_seconds).into();
        report["dispatch_size_max"] = gpu.dispatch_size_max().into();
        // The kernel alone on the device's clock: one dispatch of the first batch, median of 5.
        let words = &packed[0];
        let n = (words.len() / GPU_WORDS_PER_SIG).min(gpu.dispatch_size_max());
        let mut times = Vec::new();
        for _ in 0..5 {
            if let Some(t) = gpu.kernel_time(&words[..n * GPU_WORDS_PER_SIG])? {
                times.push(t);
            }
        }
        if !times.is_empty() {
            times.sort();
            let median = times[times.len() / 2].as_secs_f64();
            report["kernel_sigs"] = n.into();
            report["kernel_ms_median"] = (median * 1e3).into();
            report["kernel_sigs_per_sec"] = (n as f64 / median.max(1e-9)).into();
        }
    }
    print_json(&report)
}

fn print_json<T: serde::Serialize>(v: &T) -> Result<()> {
    println!("{}", serde_json::to_string(v)?);
    Ok(())
}

/// The passphrase for a key being encrypted, from the environment; refused when empty.
fn env_passphrase() -> Result<String> {
    match keys::passphrase_from_env()? {
        Some(p) if !p.is_empty() => Ok(p),
        _ => bail!(
            "set {} (or {} to a file holding it) to the passphrase",
            keys::PASSPHRASE_ENV,
            keys::PASSPHRASE_FILE_ENV
        ),
    }
}

fn keys_command(k: KeysCommand) -> Result<()> {
    match k {
        KeysCommand::New { out, encrypt } => {
            let key = keys::generate();
            if encrypt {
                keys::write_encrypted(&out, &key, &env_passphrase()?)?;
            } else {
                keys::write(&out, &key)?;
            }
            println!("{}", keys::address_of(&key));
        }
        KeysCommand::Address { file } => println!("{}", keys::address_of(&keys::read(&file)?)),
        KeysCommand::Encrypt { file } => {
            if keys::is_encrypted(&file)? {
                bail!(
                    "{} is already encrypted (use change-passphrase)",
                    file.display()
                );
            }
            let key = keys::read_with(&file, None)?;
            let contents = keys::encrypt(&key, &env_passphrase()?, keys::SCRYPT_LOG_N);
            keys::replace(&file, &contents)?;
            println!("{}", keys::address_of(&key));
        }
        KeysCommand::Decrypt { file } => {
            let key = keys::read(&file)?;
            keys::replace(&file, &keys::plaintext(&key))?;
            println!("{}", keys::address_of(&key));
        }
        KeysCommand::ChangePassphrase {
            file,
            new_passphrase_file,
        } => {
            let key = keys::read(&file)?;
            let new = std::fs::read_to_string(&new_passphrase_file)
                .with_context(|| format!("reading {}", new_passphrase_file.display()))?;
            let new = new.lines().next().unwrap_or_default();
            if new.is_empty() {
                bail!(
                    "{} holds an empty passphrase",
                    new_passphrase_file.display()
                );
            }
            keys::replace(&file, &keys::encrypt(&key, new, keys::SCRYPT_LOG_N))?;
            println!("{}", keys::address_of(&key));
        }
    }
    Ok(())
}

/// Signs and sends one transaction; prints its id, and with --wait waits for its outcome.
/// Signs and sends a transaction; prints its id (waits with --wait).
fn send(a: TxOptions, payload: Payload) -> Result<()> {
    let sent = send_quiet(a, payload)?;
    println!("{}", sent.id);
    Ok(())
}

/// A transaction sent: its id, and the nonce and sender it was signed with (the ids of the
/// objects a call creates derive from them).
struct Sent {
    id: Hash,
    nonce: u64,
    sender: Address,
}

/// [`send`] without printing: for calls that print the object they create instead.
fn send_quiet(a: TxOptions, payload: Payload) -> Result<Sent> {
    let key = keys::read(&a.key)?;
    let client = RpcClient::new(&a.rpc.rpc);
    let status = client.status()?;
    let nonce = match a.nonce {
        Some(n) => n,
        None => client.account(&keys::address_of(&key))?.pending_nonce,
    };
    let tx = Transaction::sign(
        &key,
        status.chain_id,
        nonce,
        a.fee.unwrap_or(status.min_fee),
        payload,
    );
    let id = client.send_transaction(&tx)?;
    let sent = Sent {
        id,
        nonce,
        sender: keys::address_of(&key),
    };
    if !a.wait {
        return Ok(sent);
    }
    let deadline = Instant::now() + Duration::from_secs(a.timeout_secs);
    loop {
        let view = client.transaction(&id)?;
        match view.status {
            TxStatus::Committed | TxStatus::Finalized => return Ok(sent),
            TxStatus::Rejected => bail!(
                "transaction {id} rejected: {}",
                view.error.unwrap_or_else(|| "no reason given".into())
            ),
            TxStatus::Pending => {}
        }
        if Instant::now() >= deadline {
            bail!(
                "transaction {id} still pending after {} s (it may still commit)",
                a.timeout_secs
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn run(a: RunArgs) -> Result<()> {
    let mut config = match &a.config {
        Some(path) => NodeConfig::load(path)?,
        None => NodeConfig::default(),
    };
    if let Some(d) = a.data_dir {
        config.data_dir = d;
    }
    if a.config.is_none() && !a.dev {
        bail!("give --dev (with --data-dir) for a development chain, or --config FILE");
    }
    if let Some(l) = a.rpc_listen {
        config.rpc.listen = l;
    }
    if let Some(l) = a.quic_listen {
        config.quic.listen = l;
    }
    if let Some(l) = a.metrics_listen {
        config.metrics.listen = Some(l);
    }
    if let Some(l) = a.grpc_listen {
        config.grpc.listen = l;
    }
    if let Some(ms) = a.block_interval_ms {
        config.block.interval_ms = ms;
    }
    if let (Some(cert), Some(key)) = (a.tls_cert, a.tls_key) {
        config.tls.cert_file = Some(cert);
        config.tls.key_file = Some(key);
    }
    if let Some(mb) = a.map_size_mb {
        config.storage.map_size_mb = mb;
    }
    if let Some(f) = a.log_format {
        config.log.format = match f {
            LogFormatArg::Text => LogFormat::Text,
            LogFormatArg::Json => LogFormat::Json,
        };
    }
    init_logging(&config);
    if a.dev {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("cannot create {}", config.data_dir.display()))?;
        let faucet = mameynode::node::prepare_dev_chain(&config.data_dir)?;
        tracing::info!(faucet_key = %faucet.display(), "dev chain");
    }
    let runtime = || {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("rpc")
            .enable_all()
            .build()
    };
    let system = actix::System::with_tokio_rt(move || runtime().expect("tokio runtime starts"));
    system.block_on(mameynode::node::run(config))?;
    Ok(())
}

fn init_logging(config: &NodeConfig) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.log.filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.log.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}
