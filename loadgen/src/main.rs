//! `loadgen`: drives a MameyNode with signed transfers over QUIC and reports what it committed.
//!
//! 1. Funds `--accounts` fresh accounts from the faucet (in waves the mempool's per-sender limit
//!    allows), waiting for each wave to commit.
//! 2. Pre-signs every transfer of the run on all cores, outside the measured window.
//! 3. Offers load for `--duration` seconds: open loop at `--rate` transactions per second (the
//!    schedule does not wait for the node), or closed loop with at most `--window` transactions
//!    outstanding.
//! 4. Tracks each transaction to commit through the node's commit stream, records submit-to-commit
//!    latency in an HDR histogram, and prints a summary (and `--out` JSON) with offered versus
//!    committed load, so overload is visible, and its own CPU use, so it is visibly not the
//!    bottleneck.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use clap::{Parser, ValueEnum};
use ed25519_dalek::SigningKey;
use hdrhistogram::Histogram;
use mameynode::keys;
use mameynode::modules::banking::{asset_id, Policy};
use mameynode::modules::payments::{PaymentOrder, PaymentsCall, References, Remittance, Uetr};
use mameynode::quic::client::{CommitStream, IngestClient};
use mameynode::quic::CommitEvent;
use mameynode::rpc::client::RpcClient;
use mameynode::types::{Address, BankCall, Hash, Payload, Transaction};
use rayon::prelude::*;
use serde::Serialize;
use tokio::sync::Semaphore;

mod orders;

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
enum Mode {
    /// Offer `--rate` transactions per second whatever the node does.
    Open,
    /// Keep at most `--window` transactions outstanding (sent, not yet committed or rejected).
    Closed,
}

#[derive(Parser)]
#[command(name = "loadgen", version, about = "Load generator for MameyNode")]
struct Args {
    /// JSON-RPC endpoint of the node (for status, the faucet's nonce and the QUIC certificate).
    #[arg(long, default_value = "http://127.0.0.1:8545")]
    rpc: String,
    /// QUIC ingest address (default: what the node reports in mamey_ingestInfo).
    #[arg(long)]
    quic: Option<SocketAddr>,
    /// Faucet key file (a dev node writes DATA_DIR/dev/faucet.key).
    #[arg(long)]
    faucet_key: PathBuf,
    /// Accounts to fund and send from.
    #[arg(long, default_value_t = 1000)]
    accounts: usize,
    /// Offered transactions per second (open loop); in closed loop, the most that is pre-signed
    /// per second of the run.
    #[arg(long, default_value_t = 1000)]
    rate: u64,
    /// Length of the measured window, seconds.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    #[arg(long, value_enum, default_value = "open")]
    mode: Mode,
    /// Closed loop: transactions outstanding at most.
    #[arg(long, default_value_t = 8192)]
    window: u64,
    /// Transactions per QUIC stream (one batch).
    #[arg(long, default_value_t = 256)]
    batch: usize,
    /// QUIC connections to spread batches over.
    #[arg(long, default_value_t = 2)]
    connections: usize,
    /// Batches in flight at most, over all connections.
    #[arg(long, default_value_t = 64)]
    streams: usize,
    /// After the window, how long to wait for outstanding transactions to commit.
    #[arg(long, default_value_t = 20)]
    drain_secs: u64,
    /// Write the summary as JSON here.
    #[arg(long)]
    out: Option<PathBuf>,
    /// No progress lines.
    #[arg(long)]
    quiet: bool,
    /// What the load is: native transfers, transfers of an issued asset (created by the faucet
    /// for the run), both alternating, or transfers of an asset with two compliance rules
    /// (sender KYC level 1 and receiver KYC level 2, from claims the faucet issues to every account
    /// as a trusted issuer: it must be the identity authority, as in dev mode).
    /// `payments`: native payments with full ISO 20022 references (a unique UETR, an end-to-end
    /// id, remittance, purpose); `batch`: native batch payments of --batch-outputs outputs each.
    /// `orders`: DEX order flow over --markets markets: four in five accounts are market makers
    /// re-quoting one limit order around a mid price (cancel-replace), one in five are takers
    /// crossing the spread with IOC orders; one order per transaction.
    #[arg(long, value_enum, default_value = "native")]
    workload: Workload,
    /// Which references a `payments` payment carries: `all` (UETR, end-to-end id, remittance,
    /// purpose), `uetr` (the UETR alone) or `none`.
    #[arg(long, value_enum, default_value = "all")]
    references: Refs,
    /// Outputs per batch payment (`--workload batch`; 16 fit the default 1 KiB transaction).
    #[arg(long, default_value_t = 16)]
    batch_outputs: usize,
    /// `--workload orders`: markets to spread the accounts over (the faucet issues one base
    /// asset per market and one quote asset, and opens the markets: it must be the market
    /// authority, as in dev mode).
    #[arg(long, default_value_t = 4)]
    markets: usize,
    /// `--workload orders`: how makers re-quote (their own side, or alternating sides).
    #[arg(long, value_enum, default_value = "same-side")]
    requote: orders::Requote,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
enum Workload {
    Native,
    Asset,
    Mixed,
    Ruled,
    Payments,
    Batch,
    Orders,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
enum Refs {
    All,
    Uetr,
    None,
}

#[derive(Serialize)]
struct Latency {
    p50: f64,
    p90: f64,
    p99: f64,
    p999: f64,
    max: f64,
}

#[derive(Serialize)]
struct Report {
    mode: Mode,
    workload: Workload,
    accounts: usize,
    duration_s: f64,
    target_tps: u64,
    offered_tps: f64,
    committed_tps: f64,
    /// Payments per transaction (`batch`: its outputs; 1 otherwise) and committed payments per
    /// second.
    outputs_per_tx: usize,
    committed_outputs_per_s: f64,
    sent: u64,
    committed: u64,
    committed_in_window: u64,
    rejected: u64,
    dropped: u64,
    /// "Busy" answers (retried): how often the node pushed back.
    busy_answers: u64,
    /// Batches whose QUIC stream failed and were sent again.
    stream_failures: u64,
    rejected_by_code: BTreeMap<i32, u64>,
    /// Of a sample of committed transactions (up to 200, spread over the run), how many were
    /// refused on the record by a compliance rule (committed, but moved nothing). Should be 0.
    refused_on_record_sampled: u64,
    sampled: u64,
    latency_ms: Latency,
    presign_s: f64,
    loadgen_cpu_percent: f64,
    /// `orders`: fills (trades) in the markets over the run.
    #[serde(skip_serializing_if = "Option::is_none")]
    fills: Option<u64>,
}

/// Pre-signed transactions: their encodings one after another in one buffer, where each starts,
/// and their ids.
struct Presigned {
    bytes: Vec<u8>,
    starts: Vec<usize>,
    ids: Vec<Hash>,
}

impl Presigned {
    fn tx(&self, i: usize) -> &[u8] {
        let end = self.starts.get(i + 1).copied().unwrap_or(self.bytes.len());
        &self.bytes[self.starts[i]..end]
    }
}

/// Shared run state; plain atomics so the sender, the submitters and the tracker never block.
struct Run {
    send_ns: Vec<AtomicU64>,
    done: Vec<AtomicBool>,
    sent: AtomicU64,
    committed: AtomicU64,
    committed_in_window: AtomicU64,
    rejected: AtomicU64,
    /// "Busy" answers that were retried.
    busy_answers: AtomicU64,
    /// Batches whose stream failed and were sent again.
    stream_failures: AtomicU64,
    rejected_by_code: Mutex<BTreeMap<i32, u64>>,
    histogram: Mutex<Histogram<u64>>,
    start: Instant,
    window_end_ns: AtomicU64,
}

impl Run {
    fn ns(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }
    fn finished(&self) -> u64 {
        self.committed.load(Ordering::Relaxed) + self.rejected.load(Ordering::Relaxed)
    }
}

fn cpu_seconds() -> Option<f64> {
    // Fields 14 and 15 of /proc/self/stat: user and system time in clock ticks (USER_HZ = 100).
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.accounts == 0 || args.rate == 0 || args.duration == 0 || args.batch == 0 {
        bail!("--accounts, --rate, --duration and --batch must be positive");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> Result<()> {
    let rpc = RpcClient::new(&args.rpc);
    let status = rpc.status().context("cannot reach the node's JSON-RPC")?;
    let info = rpc.ingest_info()?;
    let quic_addr: SocketAddr = match args.quic {
        Some(a) => a,
        None => info
            .quic
            .parse()
            .context("node reported a bad QUIC address")?,
    };
    let cert = hex::decode(&info.certificate_der).context("node reported a bad certificate")?;
    let batch = args.batch.min(info.batch_txs_max);
    let faucet = keys::read(&args.faucet_key)?;
    let fee = status.min_fee;

    let mut clients = Vec::new();
    for _ in 0..args.connections.max(1) {
        clients.push(Arc::new(IngestClient::connect(quic_addr, &cert).await?));
    }
    let mut commits = clients[0].commits().await?;

    // 1. Accounts and funding.
    let total = (args.rate * args.duration) as usize;
    let per_account = total.div_ceil(args.accounts) as u64;
    let amount: u64 = 1;
    let funding = per_account * (amount + fee) + fee;
    let accounts: Vec<SigningKey> = (0..args.accounts).map(|_| keys::generate()).collect();
    let addresses: Vec<Address> = accounts.iter().map(keys::address_of).collect();
    let funded_at = Instant::now();
    let native_funding = |to: &Address| {
        Payload::Bank(BankCall::Transfer {
            to: *to,
            amount: funding,
        })
    };
    let mut funder = Funder {
        rpc: &rpc,
        client: &clients[0],
        commits: &mut commits,
        key: &faucet,
        chain_id: status.chain_id,
        fee,
        batch,
    };
    funder.fund(&addresses, &native_funding).await?;
    // The asset workloads: the faucet issues an asset for this run and hands each account its
    // share.
    let asset = if matches!(
        args.workload,
        Workload::Native | Workload::Payments | Workload::Batch | Workload::Orders
    ) {
        None
    } else {
        let symbol = format!("LOAD{}", funded_at.elapsed().as_nanos() % 1_000_000);
        let faucet_address = keys::address_of(&faucet);
        let id = asset_id(&faucet_address, &symbol);
        let supply = u128::from(per_account) * addresses.len() as u128;
        let create = Payload::Bank(BankCall::CreateAsset {
            symbol,
            name: "loadgen asset".into(),
            decimals: 6,
            max_supply: None,
            initial_supply: supply,
            policy: Policy::default(),
            metadata_uri: String::new(),
        });
        funder
            .fund(&[faucet_address], &|_: &Address| create.clone())
            .await?;
        if args.workload == Workload::Ruled {
            credential(&mut funder, &faucet_address, id, &addresses).await?;
        }
        let share = |to: &Address| {
            Payload::Bank(BankCall::TransferAsset {
                asset: id,
                to: *to,
                amount: u128::from(per_account),
            })
        };
        funder.fund(&addresses, &share).await?;
        Some(id)
    };
    let markets = if args.workload == Workload::Orders {
        orders::setup(&mut funder, &faucet, &addresses, args.markets, funded_at).await?
    } else {
        Vec::new()
    };
    eprintln!(
        "funded {} accounts with {} each in {:.1} s",
        args.accounts,
        funding,
        funded_at.elapsed().as_secs_f64()
    );

    // 2. Pre-sign everything, on all cores, before the window opens.
    let presign_at = Instant::now();
    // UETRs are unique per run, so runs against one chain never collide.
    let run_salt = presign_at.elapsed().as_nanos() as u64
        ^ funded_at.elapsed().as_nanos() as u64
        ^ std::process::id() as u64;
    let chain_id = status.chain_id;
    let n = args.accounts;
    let signed: Vec<(Vec<u8>, Hash)> = (0..total)
        .into_par_iter()
        .map(|j| {
            let from = j % n;
            let to = (from + 1 + j % 7) % n;
            let native = match (args.workload, asset) {
                (Workload::Native | Workload::Payments | Workload::Batch | Workload::Orders, _)
                | (_, None) => true,
                (Workload::Asset | Workload::Ruled, _) => false,
                (Workload::Mixed, _) => j % 2 == 0,
            };
            let payload = match (args.workload, asset) {
                (Workload::Payments, _) => {
                    payment(&addresses[to], amount, run_salt, j, args.references)
                }
                (Workload::Orders, _) => orders::order(&markets, args.requote, from, j / n),
                (Workload::Batch, _) => {
                    let outputs = (0..args.batch_outputs)
                        .map(|k| PaymentOrder {
                            asset: None,
                            to: addresses[(to + k) % n],
                            amount: u128::from(amount),
                            refs: References::default(),
                        })
                        .collect();
                    Payload::Payments(PaymentsCall::Batch(outputs))
                }
                (_, Some(asset)) if !native => Payload::Bank(BankCall::TransferAsset {
                    asset,
                    to: addresses[to],
                    amount: u128::from(amount),
                }),
                _ => Payload::Bank(BankCall::Transfer {
                    to: addresses[to],
                    amount,
                }),
            };
            let tx = Transaction::sign(&accounts[from], chain_id, (j / n) as u64, fee, payload);
            (tx.bytes.to_vec(), tx.id)
        })
        .collect();
    let mut bytes = Vec::with_capacity(signed.iter().map(|s| s.0.len()).sum());
    let mut starts = Vec::with_capacity(total);
    let mut ids = Vec::with_capacity(total);
    for (b, id) in signed {
        starts.push(bytes.len());
        bytes.extend_from_slice(&b);
        ids.push(id);
    }
    let presigned = Arc::new(Presigned { bytes, starts, ids });
    let index: Arc<HashMap<Hash, u32>> = Arc::new(
        presigned
            .ids
            .iter()
            .enumerate()
            .map(|(i, id)| (*id, i as u32))
            .collect(),
    );
    let presign_s = presign_at.elapsed().as_secs_f64();
    eprintln!("pre-signed {total} transfers in {presign_s:.1} s");

    // 3. The measured run.
    let run = Arc::new(Run {
        send_ns: (0..total).map(|_| AtomicU64::new(0)).collect(),
        done: (0..total).map(|_| AtomicBool::new(false)).collect(),
        sent: AtomicU64::new(0),
        committed: AtomicU64::new(0),
        committed_in_window: AtomicU64::new(0),
        rejected: AtomicU64::new(0),
        busy_answers: AtomicU64::new(0),
        stream_failures: AtomicU64::new(0),
        rejected_by_code: Mutex::new(BTreeMap::new()),
        histogram: Mutex::new(
            Histogram::new_with_bounds(1, 600_000_000, 3).context("histogram bounds")?,
        ),
        start: Instant::now(),
        window_end_ns: AtomicU64::new(args.duration * 1_000_000_000),
    });
    let cpu_start = cpu_seconds();
    let tracker = tokio::spawn(track(commits, run.clone(), index.clone()));
    let progress = (!args.quiet).then(|| tokio::spawn(progress(run.clone(), args.duration)));

    let streams = Arc::new(Semaphore::new(args.streams.max(1)));
    let window = Duration::from_secs(args.duration);
    let mut next = 0usize;
    let mut conn = 0usize;
    let tick = Duration::from_millis(2);
    while next < total {
        let elapsed = run.start.elapsed();
        if elapsed >= window {
            break;
        }
        let target = match args.mode {
            Mode::Open => ((args.rate as f64 * elapsed.as_secs_f64()) as usize).min(total),
            Mode::Closed => {
                let outstanding = run.sent.load(Ordering::Relaxed) - run.finished();
                (next + args.window.saturating_sub(outstanding) as usize).min(total)
            }
        };
        if next >= target {
            tokio::time::sleep(tick).await;
            continue;
        }
        while next < target {
            let end = (next + batch).min(target);
            let permit = streams.clone().acquire_owned().await?;
            let now = run.ns();
            for i in next..end {
                run.send_ns[i].store(now.max(1), Ordering::Relaxed);
            }
            run.sent.fetch_add((end - next) as u64, Ordering::Relaxed);
            let client = clients[conn % clients.len()].clone();
            conn += 1;
            let (run, presigned) = (run.clone(), presigned.clone());
            tokio::spawn(async move {
                submit_with_retries(&client, &run, &presigned, (next..end).collect()).await;
                drop(permit);
            });
            next = end;
        }
    }
    let window_s = run.start.elapsed().as_secs_f64().min(args.duration as f64);
    let sent = run.sent.load(Ordering::Relaxed);

    // 4. Drain, then report.
    let drain_until = Instant::now() + Duration::from_secs(args.drain_secs);
    while run.finished() < sent && Instant::now() < drain_until {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tracker.abort();
    if let Some(p) = progress {
        p.abort();
    }
    let cpu_s = match (cpu_start, cpu_seconds()) {
        (Some(a), Some(b)) => b - a,
        _ => 0.0,
    };
    let wall_s = run.start.elapsed().as_secs_f64();
    let committed = run.committed.load(Ordering::Relaxed);
    let rejected = run.rejected.load(Ordering::Relaxed);
    let committed_in_window = run.committed_in_window.load(Ordering::Relaxed);
    let h = run
        .histogram
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let ms = |us: u64| us as f64 / 1000.0;
    let (refused_on_record_sampled, sampled) = sample_refusals(&rpc, &presigned.ids);
    let report = Report {
        mode: args.mode,
        workload: args.workload,
        accounts: args.accounts,
        duration_s: window_s,
        target_tps: args.rate,
        offered_tps: sent as f64 / window_s,
        committed_tps: committed_in_window as f64 / window_s,
        outputs_per_tx: outputs_per_tx(&args),
        committed_outputs_per_s: committed_in_window as f64 / window_s
            * outputs_per_tx(&args) as f64,
        sent,
        committed,
        committed_in_window,
        rejected,
        dropped: sent.saturating_sub(committed + rejected),
        busy_answers: run.busy_answers.load(Ordering::Relaxed),
        stream_failures: run.stream_failures.load(Ordering::Relaxed),
        rejected_by_code: run
            .rejected_by_code
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone(),
        refused_on_record_sampled,
        sampled,
        latency_ms: Latency {
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
        },
        presign_s,
        loadgen_cpu_percent: 100.0 * cpu_s / wall_s,
        fills: if markets.is_empty() {
            None
        } else {
            Some(orders::fills(&rpc, &markets)?)
        },
    };
    eprintln!(
        "\noffered {:.0} tx/s, committed {:.0} tx/s over {:.1} s; sent {}, committed {}, rejected {}, dropped {}, busy answers {}",
        report.offered_tps,
        report.committed_tps,
        window_s,
        sent,
        committed,
        rejected,
        report.dropped,
        report.busy_answers
    );
    eprintln!(
        "latency ms: p50 {:.1}  p90 {:.1}  p99 {:.1}  p99.9 {:.1}  max {:.1}; loadgen CPU {:.0}% of one core",
        report.latency_ms.p50,
        report.latency_ms.p90,
        report.latency_ms.p99,
        report.latency_ms.p999,
        report.latency_ms.max,
        report.loadgen_cpu_percent
    );
    let json = serde_json::to_string_pretty(&report)?;
    println!("{json}");
    if let Some(out) = &args.out {
        std::fs::write(out, &json).with_context(|| format!("cannot write {}", out.display()))?;
    }
    Ok(())
}

/// The transaction is already pending or committed.
const ALREADY_KNOWN: i32 = 1008;

/// Answers that mean "try again shortly": mempool full (2000), sender queue full (2001), busy (2002).
fn retryable(code: i32) -> bool {
    (2000..=2002).contains(&code)
}

/// Submits one batch; transactions refused as busy are sent again after a short pause (as a real
/// client would, and so that a refusal does not leave a nonce gap that stalls its account) until
/// the window closes. Latency still counts from the first attempt.
async fn submit_with_retries(
    client: &IngestClient,
    run: &Run,
    presigned: &Presigned,
    mut pending: Vec<usize>,
) {
    let mut codes: BTreeMap<i32, u64> = BTreeMap::new();
    while !pending.is_empty() {
        let txs: Vec<&[u8]> = pending.iter().map(|&i| presigned.tx(i)).collect();
        let answers = match client.submit(&txs).await {
            Ok(a) => a,
            Err(e) => {
                // The batch's fate is unknown (some may have been admitted): send it again while
                // the window is open; "already known" answers then count as admitted.
                if run.ns() < run.window_end_ns.load(Ordering::Relaxed) {
                    run.stream_failures.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
                eprintln!("batch failed after the window closed: {e}");
                for &i in &pending {
                    if !run.done[i].swap(true, Ordering::Relaxed) {
                        *codes.entry(-1).or_insert(0) += 1;
                    }
                }
                break;
            }
        };
        let window_open = run.ns() < run.window_end_ns.load(Ordering::Relaxed);
        let mut again = Vec::new();
        for (&i, a) in pending.iter().zip(answers) {
            let Err(r) = a else { continue };
            if r.code == ALREADY_KNOWN {
                // Admitted by an earlier attempt whose answer was lost.
                continue;
            }
            if retryable(r.code) && window_open {
                run.busy_answers.fetch_add(1, Ordering::Relaxed);
                again.push(i);
            } else if !run.done[i].swap(true, Ordering::Relaxed) {
                *codes.entry(r.code).or_insert(0) += 1;
            }
        }
        pending = again;
        if !pending.is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let n: u64 = codes.values().sum();
    if n > 0 {
        run.rejected.fetch_add(n, Ordering::Relaxed);
        let mut by_code = run
            .rejected_by_code
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for (c, k) in codes {
            *by_code.entry(c).or_insert(0) += k;
        }
    }
}

/// The faucet sending the setup transactions of a run, over the ingest connection, following
/// the commit stream.
struct Funder<'a> {
    rpc: &'a RpcClient,
    client: &'a IngestClient,
    commits: &'a mut CommitStream,
    key: &'a SigningKey,
    chain_id: u64,
    fee: u64,
    batch: usize,
}

impl Funder<'_> {
    /// Sends `payload(address)` from the faucet for every address, in waves the per-sender
    /// mempool limit allows, waiting for each wave to commit.
    async fn fund(
        &mut self,
        addresses: &[Address],
        payload: &dyn Fn(&Address) -> Payload,
    ) -> Result<()> {
        let f = self;
        let (client, batch) = (f.client, f.batch);
        let (faucet, chain_id, fee) = (f.key, f.chain_id, f.fee);
        let commits = &mut *f.commits;
        const WAVE: usize = 512;
        let mut nonce = f.rpc.account(&keys::address_of(faucet))?.pending_nonce;
        for wave in addresses.chunks(WAVE) {
            let txs: Vec<_> = wave
                .iter()
                .map(|to| {
                    let t = Transaction::sign(faucet, chain_id, nonce, fee, payload(to));
                    nonce += 1;
                    t
                })
                .collect();
            let mut waiting: HashSet<Hash> = txs.iter().map(|t| t.id).collect();
            for chunk in txs.chunks(batch) {
                let raw: Vec<&[u8]> = chunk.iter().map(|t| &t.bytes[..]).collect();
                for (t, a) in chunk.iter().zip(client.submit(&raw).await?) {
                    if let Err(r) = a {
                        bail!(
                            "funding transfer {} refused: {} ({})",
                            t.id,
                            r.message,
                            r.code
                        );
                    }
                }
            }
            let deadline = Instant::now() + Duration::from_secs(60);
            while !waiting.is_empty() {
                let event = tokio::time::timeout_at(deadline.into(), commits.next())
                    .await
                    .map_err(|_| anyhow!("funding did not commit within 60 s"))??;
                match event {
                    Some(CommitEvent::Block {
                        committed,
                        discarded,
                        ..
                    }) => {
                        for id in committed {
                            waiting.remove(&id);
                        }
                        if let Some((id, code)) =
                            discarded.iter().find(|(id, _)| waiting.contains(id))
                        {
                            bail!("funding transfer {id} discarded (code {code})");
                        }
                    }
                    Some(CommitEvent::Lagged { missed }) => {
                        bail!("commit stream lagged by {missed} blocks during funding")
                    }
                    None => bail!("the node closed the commit stream"),
                }
            }
        }
        Ok(())
    }
}

/// How many of up to 200 of the run's transactions (spread evenly) were refused on the record,
/// and how many were looked at.
fn sample_refusals(rpc: &RpcClient, ids: &[Hash]) -> (u64, u64) {
    let step = (ids.len() / 200).max(1);
    let (mut refused, mut sampled) = (0, 0);
    for id in ids.iter().step_by(step).take(200) {
        if let Ok(v) = rpc.transaction(id) {
            sampled += 1;
            if v.error_code.is_some() {
                refused += 1;
            }
        }
    }
    (refused, sampled)
}

/// The ruled workload's setup: the faucet trusts itself for KYC claims (as the identity
/// authority), sets the asset's two claim-based rules and credentials every account (level 2).
async fn credential(
    funder: &mut Funder<'_>,
    faucet: &Address,
    asset: mameynode::types::Hash,
    addresses: &[Address],
) -> Result<()> {
    use mameynode::modules::compliance::{AssetRules, ComplianceCall, Condition};
    use mameynode::modules::identity::{ClaimType, IdentityCall, Subject};
    let trust = Payload::Identity(IdentityCall::SetIssuer {
        issuer: *faucet,
        types: vec![ClaimType::Kyc],
        name: "loadgen".into(),
    });
    let kyc = |level| Condition::Claim {
        claim_type: ClaimType::Kyc,
        min_level: level,
        issuers: Vec::new(),
    };
    let rules = Payload::Compliance(ComplianceCall::SetRules {
        asset,
        rules: AssetRules {
            sender: vec![kyc(1)],
            receiver: vec![kyc(2)],
            ..AssetRules::default()
        },
    });
    funder
        .fund(&[*faucet], &|_: &Address| trust.clone())
        .await
        .context("the faucet must be the identity authority (genesis [identity] authority)")?;
    funder
        .fund(&[*faucet], &|_: &Address| rules.clone())
        .await?;
    let claim = |to: &Address| {
        Payload::Identity(IdentityCall::IssueClaim {
            subject: Subject::Address(*to),
            claim_type: ClaimType::Kyc,
            level: 2,
            jurisdiction: None,
            expires_ms: None,
            evidence: None,
        })
    };
    funder.fund(addresses, &claim).await
}

/// Follows the commit stream: latency of every committed transaction of the run.
async fn track(mut commits: CommitStream, run: Arc<Run>, index: Arc<HashMap<Hash, u32>>) {
    loop {
        let event = match commits.next().await {
            Ok(Some(e)) => e,
            Ok(None) => return,
            Err(e) => {
                eprintln!("commit stream failed: {e}");
                return;
            }
        };
        match event {
            CommitEvent::Block {
                committed,
                discarded,
                ..
            } => {
                let now = run.ns();
                let in_window = now <= run.window_end_ns.load(Ordering::Relaxed);
                let mut h = run.histogram.lock().unwrap_or_else(|p| p.into_inner());
                for id in committed {
                    let Some(&i) = index.get(&id) else { continue };
                    let i = i as usize;
                    if run.done[i].swap(true, Ordering::Relaxed) {
                        continue;
                    }
                    let sent = run.send_ns[i].load(Ordering::Relaxed);
                    let _ = h.record(((now.saturating_sub(sent)) / 1000).max(1));
                    run.committed.fetch_add(1, Ordering::Relaxed);
                    if in_window {
                        run.committed_in_window.fetch_add(1, Ordering::Relaxed);
                    }
                }
                drop(h);
                for (id, code) in discarded {
                    let Some(&i) = index.get(&id) else { continue };
                    if !run.done[i as usize].swap(true, Ordering::Relaxed) {
                        run.rejected.fetch_add(1, Ordering::Relaxed);
                        *run.rejected_by_code
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .entry(code)
                            .or_insert(0) += 1;
                    }
                }
            }
            CommitEvent::Lagged { missed } => {
                eprintln!("commit stream lagged by {missed} blocks: results are incomplete");
                return;
            }
        }
    }
}

/// One line a second: offered and committed rates, in flight, rejected.
async fn progress(run: Arc<Run>, duration: u64) {
    let mut last = (0u64, 0u64);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    loop {
        tick.tick().await;
        let sent = run.sent.load(Ordering::Relaxed);
        let committed = run.committed.load(Ordering::Relaxed);
        let rejected = run.rejected.load(Ordering::Relaxed);
        let t = run.start.elapsed().as_secs();
        eprintln!(
            "[{t:>3}/{duration}s] offered {:>6} tx/s  committed {:>6} tx/s  in flight {:>6}  rejected {}  busy {}",
            sent - last.0,
            committed - last.1,
            sent.saturating_sub(committed + rejected),
            rejected,
            run.busy_answers.load(Ordering::Relaxed)
        );
        last = (sent, committed);
    }
}

/// A native payment with full ISO 20022 references: a UETR unique to this run and `j`, an
/// end-to-end id, unstructured remittance and a purpose code.
fn payment(to: &Address, amount: u64, salt: u64, j: usize, which: Refs) -> Payload {
    let h = Hash::sha256_tagged(
        b"loadgen/uetr",
        &[&salt.to_be_bytes(), &(j as u64).to_be_bytes()],
    );
    let mut u = [0u8; 16];
    u.copy_from_slice(&h.0[..16]);
    u[6] = (u[6] & 0x0f) | 0x40;
    u[8] = (u[8] & 0x3f) | 0x80;
    Payload::Payments(PaymentsCall::Pay(PaymentOrder {
        asset: None,
        to: *to,
        amount: u128::from(amount),
        refs: match which {
            Refs::All => References {
                end_to_end_id: Some(format!("LG-{salt:x}-{j}")),
                uetr: Some(Uetr(u)),
                remittance: Some(Remittance::Unstructured(format!("Invoice {j}"))),
                purpose: Some("SUPP".into()),
                destination_tag: None,
            },
            Refs::Uetr => References {
                uetr: Some(Uetr(u)),
                ..References::default()
            },
            Refs::None => References::default(),
        },
    }))
}

fn outputs_per_tx(args: &Args) -> usize {
    if args.workload == Workload::Batch {
        args.batch_outputs
    } else {
        1
    }
}
