//! Criterion benchmarks of the pipeline's stages, each alone: encoding, signature verification by
//! batch size, execution sequential against parallel, and LMDB block commits by block size.
//!
//! `cargo bench --bench pipeline` (add `-- <filter>` for one group). Figures and the machine they
//! were taken on are recorded in docs/BENCHMARKS.md.

use std::collections::BTreeMap;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use ed25519_dalek::SigningKey;
use mameynode::codec::{decode_exact, Encode};
use mameynode::execution::{execute_block, execute_block_parallel, BlockEnv, ChainParams};
use mameynode::genesis::{Genesis, GenesisAccount};
use mameynode::sigverify::{BatchVerifier, CpuVerifier, SigItem};
use mameynode::state::LtHash;
use mameynode::storage::{BlockCommit, Storage, StorageConfig};
use mameynode::types::block::tx_root;
use mameynode::types::{
    Account, Address, BankCall, Block, BlockHeader, Payload, Transaction, TxEnvelope, TX_SIZE_MAX,
};

const CHAIN: u64 = 1337;

fn key(i: usize) -> SigningKey {
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
    SigningKey::from_bytes(&seed)
}

/// `n` transfers from `senders` distinct accounts (round robin, consecutive nonces) to others.
fn transfers(n: usize, senders: usize) -> (Vec<SigningKey>, Vec<TxEnvelope>) {
    let keys: Vec<SigningKey> = (0..senders).map(key).collect();
    let txs = (0..n)
        .map(|j| {
            let from = j % senders;
            let to = Address(keys[(from + 1) % senders].verifying_key().to_bytes());
            Transaction::sign(
                &keys[from],
                CHAIN,
                (j / senders) as u64,
                1,
                Payload::Bank(BankCall::Transfer { to, amount: 1 }),
            )
        })
        .collect();
    (keys, txs)
}

fn state_for(keys: &[SigningKey]) -> BTreeMap<Address, Account> {
    keys.iter()
        .map(|k| {
            (
                Address(k.verifying_key().to_bytes()),
                Account {
                    balance: 1 << 40,
                    nonce: 0,
                },
            )
        })
        .collect()
}

fn encoding(c: &mut Criterion) {
    let (_, txs) = transfers(1000, 100);
    let mut g = c.benchmark_group("encoding");
    g.throughput(Throughput::Elements(txs.len() as u64));
    g.bench_function("encode 1000 transfers", |b| {
        b.iter(|| txs.iter().map(|t| t.tx.to_bytes().len()).sum::<usize>())
    });
    g.bench_function("decode 1000 transfers", |b| {
        b.iter(|| {
            txs.iter()
                .map(|t| TxEnvelope::decode(&t.bytes, TX_SIZE_MAX).map(|e| e.id))
                .filter(Result::is_ok)
                .count()
        })
    });
    let ids: Vec<_> = txs.iter().map(|t| t.id).collect();
    let block = Block {
        header: BlockHeader {
            chain_id: CHAIN,
            height: 1,
            parent_hash: Default::default(),
            timestamp_ms: 1,
            proposer: Address([0; 32]),
            tx_root: tx_root(&ids),
            state_root: Default::default(),
            tx_count: ids.len() as u32,
        },
        transactions: txs,
    };
    let bytes = block.to_bytes();
    g.bench_function("decode a block of 1000", |b| {
        b.iter(|| decode_exact::<Block>(&bytes, usize::MAX).map(|b| b.transactions.len()))
    });
    g.finish();
}

fn sigverify(c: &mut Criterion) {
    let (_, txs) = transfers(4096, 1024);
    let items: Vec<SigItem<'_>> = txs
        .iter()
        .map(|t| SigItem {
            public_key: t.public_key(),
            signature: t.signature(),
            message: t.signing_message(),
        })
        .collect();
    let mut g = c.benchmark_group("sigverify");
    g.sample_size(10);
    for batch in [64usize, 256, 1024, 4096] {
        g.throughput(Throughput::Elements(batch as u64));
        for chunk in [256usize, 1024] {
            let v = CpuVerifier::new(chunk);
            g.bench_with_input(
                BenchmarkId::new(format!("cpu chunk {chunk}"), batch),
                &batch,
                |b, &batch| b.iter(|| v.verify_batch(&items[..batch])),
            );
        }
    }
    g.finish();
}

fn execution(c: &mut Criterion) {
    let proposer = Address([0xee; 32]);
    let params = ChainParams {
        genesis_hash: [0; 32],
        chain_id: CHAIN,
        min_fee: 1,
        staking: Default::default(),
        banking: Default::default(),
        identity: Default::default(),
        compliance: Default::default(),
        payments: Default::default(),
        dex: Default::default(),
    };
    let env = BlockEnv {
        height: 1,
        proposer,
        time_ms: 0,
    };
    let mut g = c.benchmark_group("execution");
    g.sample_size(10);
    for (n, senders) in [(5000usize, 2000usize), (5000, 50)] {
        let (keys, txs) = transfers(n, senders);
        let state = state_for(&keys);
        let lthash = LtHash::of_state(state.iter());
        g.throughput(Throughput::Elements(n as u64));
        let label = format!("{n} txs, {senders} senders");
        g.bench_function(BenchmarkId::new("sequential", &label), |b| {
            b.iter_batched(
                || txs.clone(),
                |txs| execute_block(&state, &lthash, &params, &env, txs),
                BatchSize::LargeInput,
            )
        });
        g.bench_function(BenchmarkId::new("parallel", &label), |b| {
            b.iter_batched(
                || txs.clone(),
                |txs| execute_block_parallel(&state, &lthash, &params, &env, txs),
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

fn lmdb_commit(c: &mut Criterion) {
    let proposer = Address([0xee; 32]);
    let params = ChainParams {
        genesis_hash: [0; 32],
        chain_id: CHAIN,
        min_fee: 1,
        staking: Default::default(),
        banking: Default::default(),
        identity: Default::default(),
        compliance: Default::default(),
        payments: Default::default(),
        dex: Default::default(),
    };
    let env = BlockEnv {
        height: 1,
        proposer,
        time_ms: 0,
    };
    let mut g = c.benchmark_group("lmdb commit");
    g.sample_size(10);
    for n in [100usize, 1000, 5000] {
        let (keys, txs) = transfers(n, n.min(2000));
        let genesis = Genesis {
            chain_id: CHAIN,
            timestamp_ms: 0,
            validator: proposer,
            validators: vec![],
            min_fee: 1,
            staking: Default::default(),
            banking: Default::default(),
            identity: Default::default(),
            compliance: Default::default(),
            payments: Default::default(),
            dex: Default::default(),
            accounts: keys
                .iter()
                .map(|k| GenesisAccount {
                    address: Address(k.verifying_key().to_bytes()),
                    balance: 1 << 40,
                })
                .collect(),
        };
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(BenchmarkId::new("durable", n), |b| {
            b.iter_batched(
                || {
                    let dir = tempfile::tempdir().expect("tempdir");
                    let s = Storage::open(dir.path(), &StorageConfig::default()).expect("open");
                    let (block, state, stake, lthash) = genesis.build();
                    let head = s
                        .initialize(&block, &state, &stake, &lthash, "{}")
                        .expect("genesis");
                    let out = execute_block(&state, &lthash, &params, &env, txs.clone())
                        .unwrap_or_else(|e| match e {});
                    let ids: Vec<_> = out.applied.iter().map(|t| t.id).collect();
                    let block = Block {
                        header: BlockHeader {
                            chain_id: CHAIN,
                            height: 1,
                            parent_hash: head.hash,
                            timestamp_ms: 1,
                            proposer,
                            tx_root: tx_root(&ids),
                            state_root: out.lthash.root(),
                            tx_count: ids.len() as u32,
                        },
                        transactions: out.applied.clone(),
                    };
                    (dir, s, block, out)
                },
                |(_dir, s, block, out)| {
                    s.commit_block(&BlockCommit {
                        certificate: None,
                        block: &block,
                        receipts: &out.receipts,
                        writes: &out.writes,
                        state_writes: &out.state_writes,
                        lthash: &out.lthash,
                    })
                    .expect("commit")
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, encoding, sigverify, execution, lmdb_commit);
criterion_main!(benches);
