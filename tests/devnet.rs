//! Four validators and a follower as real processes on loopback (`mameynode devnet init
//! --followers 1`, then `mameynode run --config` for each): a transfer sent to the follower is
//! final on every node; with one validator killed (-9) finality
//! goes on and the validator catches up when it returns; with two killed finality halts without a
//! fork, and resumes when they return; every node reports the same hash for every height, each
//! block with a commit certificate of at least three validators.
//!
//! The pace with one validator down (`one_validator_down_keeps_the_pace`): four validators
//! finalize for 30 s; one is killed (-9); once the proposer schedule has skipped it twice, the other
//! three finalize for 30 s at no less than 0.7 of the pace of four, and `mamey_getValidators` and
//! the metrics show its missed turns and missed votes (and few or none for a running validator).
//!
//! DPoS on the same network (`dpos_elections_rewards_unbonding_and_slashing`): validators 0..=2
//! run; the test itself plays validator 3 and double-signs over p2p. A new validator registers
//! and is elected at the epoch's end, a delegation raises a validator's power, an undelegation
//! returns after the unbonding period, rewards compound, and the double signer is reported by the
//! nodes, slashed, jailed and dropped from the set, while finality goes on; when it then sends
//! decisions with invalid certificates, every node bans it.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{new_address, wait_for, BIN};
use mameynode::devnet::{self, DEVNET_CHAIN_ID};
use mameynode::keys;
use mameynode::modules::payments::{OnFailure, PaymentOrder, PaymentsCall, Period, References};
use mameynode::rpc::client::RpcClient;
use mameynode::types::{BankCall, Payload, Transaction};

const NODES: usize = 4;
/// Node 4 follows the chain without voting (`consensus.follower`).
const FOLLOWER: usize = NODES;

/// The two tests each run a whole devnet on the same ports: one at a time.
static ONE_DEVNET: std::sync::Mutex<()> = std::sync::Mutex::new(());

struct Devnet {
    dir: PathBuf,
    configs: Vec<PathBuf>,
    children: Vec<Option<Child>>,
    offset: u16,
}

impl Devnet {
    fn log(&self, i: usize) -> PathBuf {
        self.dir.join(format!("node-{i}.log"))
    }

    fn start(&mut self, i: usize) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log(i))
            .expect("log file");
        let child = Command::new(BIN)
            .arg("run")
            .arg("--config")
            .arg(&self.configs[i])
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start a validator");
        self.children[i] = Some(child);
    }

    fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.children[i].take() {
            let _ = c.kill(); // SIGKILL
            let _ = c.wait();
        }
    }

    fn client(&self, i: usize) -> RpcClient {
        let port = devnet::ports(i, self.offset).expect("ports").rpc;
        RpcClient::new(&format!("http://127.0.0.1:{port}"))
    }

    fn height(&self, i: usize) -> Option<u64> {
        self.client(i).status().ok().map(|s| s.height)
    }

    /// Waits until every node in `nodes` is at `height` or above.
    fn wait_height(&self, nodes: &[usize], height: u64, limit: Duration) {
        let started = Instant::now();
        loop {
            if nodes
                .iter()
                .all(|&i| self.height(i).is_some_and(|h| h >= height))
            {
                return;
            }
            assert!(
                started.elapsed() < limit,
                "nodes {nodes:?} did not reach height {height} in {limit:?}: {:?}",
                (0..NODES).map(|i| self.height(i)).collect::<Vec<_>>()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Sends a transaction through node `via` and waits until node 0 reports it committed (it
    /// must not be rejected).
    fn send_committed(
        &self,
        via: usize,
        key: &ed25519_dalek::SigningKey,
        nonce: u64,
        payload: Payload,
    ) {
        let tx = Transaction::sign(key, DEVNET_CHAIN_ID, nonce, 1, payload);
        let id = self.client(via).send_transaction(&tx).expect("send");
        wait_for("a transaction commits", Duration::from_secs(60), || {
            self.client(0).transaction(&id).is_ok_and(|v| {
                assert_ne!(
                    v.status,
                    mameynode::rpc::TxStatus::Rejected,
                    "rejected: {:?}",
                    v.error
                );
                matches!(
                    v.status,
                    mameynode::rpc::TxStatus::Committed | mameynode::rpc::TxStatus::Finalized
                )
            })
        });
    }

    /// Rewrites the shared genesis through `edit`, before any node starts.
    fn edit_genesis(&self, edit: impl FnOnce(&mut mameynode::genesis::Genesis)) {
        let path = self.dir.join("genesis.toml");
        let mut genesis = mameynode::genesis::Genesis::load(&path).expect("genesis");
        edit(&mut genesis);
        std::fs::write(&path, genesis.to_toml()).expect("write genesis");
    }

    fn max_height(&self, nodes: &[usize]) -> u64 {
        nodes
            .iter()
            .filter_map(|&i| self.height(i))
            .max()
            .unwrap_or(0)
    }
}

impl Drop for Devnet {
    fn drop(&mut self) {
        for i in 0..=NODES {
            self.kill(i);
        }
        if std::thread::panicking() {
            for i in 0..=NODES {
                let text = std::fs::read_to_string(self.log(i)).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(30).collect();
                eprintln!("---- node-{i} log (last lines) ----");
                for l in tail.into_iter().rev() {
                    eprintln!("{l}");
                }
            }
        }
    }
}

fn devnet(tmp: &Path) -> Devnet {
    // Ports are fixed per node (INTERFACES §7) plus an offset; the process id spreads concurrent
    // runs apart. The offset keeps every port out of Linux's ephemeral range (32768–60999): a
    // gRPC port in it (50051 + 2000 once did) can be taken as the source port of any outgoing
    // connection, and a validator restarted later then fails to bind ("address in use").
    let offset = 11_000 + (std::process::id() % 50) as u16 * 20;
    let dir = tmp.join("net");
    let configs = devnet::init(NODES, 1, &dir, offset).expect("devnet init");
    Devnet {
        dir,
        configs,
        children: (0..=NODES).map(|_| None).collect(),
        offset,
    }
}

#[test]
fn four_validators_survive_crashes_and_never_fork() {
    let _one = ONE_DEVNET.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut net = devnet(tmp.path());
    for i in 0..=NODES {
        net.start(i);
    }
    let all: Vec<usize> = (0..NODES).collect();
    let everyone: Vec<usize> = (0..=NODES).collect();
    net.wait_height(&everyone, 3, Duration::from_secs(60));

    // A transfer sent to the follower is final on every node.
    let faucet = keys::read(&net.dir.join("faucet.key")).expect("faucet key");
    let to = new_address();
    let tx = Transaction::sign(
        &faucet,
        DEVNET_CHAIN_ID,
        0,
        1,
        Payload::Bank(BankCall::Transfer { to, amount: 4_321 }),
    );
    net.client(FOLLOWER).send_transaction(&tx).expect("send");
    let started = Instant::now();
    while !everyone
        .iter()
        .all(|&i| net.client(i).account(&to).is_ok_and(|a| a.balance == 4_321))
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "transfer not final everywhere"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // A standing order runs at the start of blocks on every validator through the crashes below:
    // the block hashes compared at the end commit to its state, and each node must show it paid
    // exactly its count.
    let payee = new_address();
    let order = Transaction::sign(
        &faucet,
        DEVNET_CHAIN_ID,
        1,
        1,
        Payload::Payments(PaymentsCall::StandingOrderCreate {
            payment: PaymentOrder {
                asset: None,
                to: payee,
                amount: 7,
                refs: References::default(),
            },
            period: Period::Blocks(3),
            count: Some(6),
            on_failure: OnFailure::Retry,
        }),
    );
    net.client(0)
        .send_transaction(&order)
        .expect("send the standing order");

    // One down: finality goes on.
    net.kill(3);
    let h = net.max_height(&[0, 1, 2]);
    net.wait_height(&[0, 1, 2], h + 3, Duration::from_secs(90));
    // Back: it catches up.
    net.start(3);
    let h = net.max_height(&[0, 1, 2]);
    net.wait_height(&all, h + 1, Duration::from_secs(90));

    // Two down: no quorum, so no new block anywhere (one decided just before the kill may still be
    // committed); then it must stay put.
    net.kill(2);
    net.kill(3);
    std::thread::sleep(Duration::from_secs(2));
    let halted = net.max_height(&[0, 1]);
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(
        net.max_height(&[0, 1]),
        halted,
        "a block was finalized without a quorum"
    );
    // Back: finality resumes.
    net.start(2);
    net.start(3);
    net.wait_height(&all, halted + 3, Duration::from_secs(120));

    // One chain: the same block at every height on every node (the follower too), each with a
    // certificate; the follower never signs.
    net.wait_height(&[FOLLOWER], halted + 3, Duration::from_secs(60));
    let top = (0..=NODES).filter_map(|i| net.height(i)).min().unwrap_or(0);
    let follower = keys::address_of(
        &keys::read(&net.dir.join(format!("node-{FOLLOWER}/validator.key"))).expect("key"),
    );
    for height in 1..=top {
        let blocks: Vec<_> = (0..=NODES)
            .map(|i| net.client(i).block(height).expect("block"))
            .collect();
        for b in &blocks[1..] {
            assert_eq!(b.hash, blocks[0].hash, "nodes disagree at height {height}");
        }
        let commit = blocks[0].commit.as_ref().expect("certificate");
        assert!(
            commit.signatures.len() >= 3,
            "height {height}: {} signatures",
            commit.signatures.len()
        );
        assert!(commit.signatures.iter().all(|s| s.validator != follower));
    }
    // Six payments of 7 on every node, none skipped and none twice across the crashes.
    wait_for(
        "the standing order to finish",
        Duration::from_secs(90),
        || {
            everyone
                .iter()
                .all(|&i| net.client(i).account(&payee).is_ok_and(|a| a.balance == 42))
        },
    );
}

#[test]
fn dpos_elections_rewards_unbonding_and_slashing() {
    use mameynode::consensus::context::{
        self as cx, sign_vote, BlockHash, NilOrVal, Round, VoteType,
    };
    use mameynode::consensus::engine::Message;
    use mameynode::p2p::{self, PeerAddr, PeerMessage};
    use mameynode::types::StakingCall;

    let _one = ONE_DEVNET.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut net = devnet(tmp.path());
    // Short epochs and unbonding, so that the test sees each within seconds.
    net.edit_genesis(|g| {
        g.staking.epoch_blocks = 8;
        g.staking.unbonding_blocks = 8;
    });
    let keys_of: Vec<_> = (0..NODES)
        .map(|i| keys::read(&net.dir.join(format!("node-{i}/validator.key"))).expect("key"))
        .collect();
    let addr = |i: usize| keys::address_of(&keys_of[i]);
    let honest = [0, 1, 2];
    for i in honest {
        net.start(i);
    }
    net.wait_height(&honest, 2, Duration::from_secs(60));
    let c = net.client(0);
    let faucet = keys::read(&net.dir.join("faucet.key")).expect("faucet key");
    let faucet_addr = keys::address_of(&faucet);
    let mut faucet_nonce = 0;
    let send = |key: &ed25519_dalek::SigningKey, nonce: u64, payload: Payload| {
        net.send_committed(1, key, nonce, payload)
    };
    let power = |a: mameynode::types::Address| {
        c.validators()
            .expect("validators")
            .validators
            .iter()
            .find(|v| v.address == a)
            .and_then(|v| v.power)
    };
    assert_eq!(power(addr(3)), Some(devnet::DEVNET_VALIDATOR_STAKE));

    // A new validator registers (a small stake: its node never runs, and the others keep more
    // than two thirds) and is elected at the end of the epoch.
    let newcomer = keys::generate();
    let newcomer_addr = keys::address_of(&newcomer);
    send(
        &faucet,
        faucet_nonce,
        Payload::Bank(BankCall::Transfer {
            to: newcomer_addr,
            amount: 10_000_000,
        }),
    );
    faucet_nonce += 1;
    send(
        &newcomer,
        0,
        Payload::Staking(StakingCall::RegisterValidator {
            commission_bps: 500,
            amount: 1_000_000,
        }),
    );
    assert_eq!(power(newcomer_addr), None, "elected only at an epoch's end");
    wait_for("the newcomer is elected", Duration::from_secs(60), || {
        power(newcomer_addr).is_some()
    });

    // The faucet delegates to validator 0: its power grows at the next election.
    let delegated = 500_000_000;
    send(
        &faucet,
        faucet_nonce,
        Payload::Staking(StakingCall::Delegate {
            validator: addr(0),
            amount: delegated,
        }),
    );
    faucet_nonce += 1;
    wait_for(
        "the delegation raises validator 0's power",
        Duration::from_secs(60),
        || power(addr(0)).is_some_and(|p| p >= devnet::DEVNET_VALIDATOR_STAKE + delegated),
    );
    let stake = c.stake(&faucet_addr).expect("stake");
    assert_eq!(stake.delegations.len(), 1);
    assert!(stake.delegations[0].tokens >= delegated, "{stake:?}");
    // Rewards compound: validator 0's stake grows block by block.
    let tokens0 = |c: &RpcClient| {
        c.validators()
            .expect("validators")
            .validators
            .iter()
            .find(|v| v.address == addr(0))
            .map(|v| v.tokens)
            .expect("validator 0")
    };
    let before = tokens0(&c);
    net.wait_height(
        &honest,
        net.max_height(&honest) + 2,
        Duration::from_secs(30),
    );
    assert!(tokens0(&c) > before, "no rewards");

    // Undelegation: the tokens come back after the unbonding period, not before.
    let undelegated = 100_000_000;
    send(
        &faucet,
        faucet_nonce,
        Payload::Staking(StakingCall::Undelegate {
            validator: addr(0),
            amount: undelegated,
        }),
    );
    let unbonding_from = c.account(&faucet_addr).expect("faucet").balance;
    wait_for(
        "the unbonded tokens return",
        Duration::from_secs(60),
        || {
            c.account(&faucet_addr)
                .is_ok_and(|a| a.balance == unbonding_from + undelegated)
        },
    );

    // The test plays validator 3 and signs two different prevotes for the next heights.
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (inbound, _keep) = tokio::sync::mpsc::channel(1024);
    let p2p = {
        let _guard = rt.enter();
        p2p::start(
            p2p::P2pSettings {
                listen: format!(
                    "127.0.0.1:{}",
                    devnet::ports(3, net.offset).expect("ports").p2p
                )
                .parse()
                .expect("socket"),
                peers: honest
                    .iter()
                    .map(|&j| PeerAddr {
                        address: addr(j),
                        socket: format!(
                            "127.0.0.1:{}",
                            devnet::ports(j, net.offset).expect("ports").p2p
                        )
                        .parse()
                        .expect("socket"),
                    })
                    .collect(),
                frame_bytes_max: 32 << 20,
                send_queue_max: 1024,
                connections_max: 16,
            },
            keys_of[3].clone(),
            (0..NODES).map(addr).collect(),
            inbound,
        )
        .expect("p2p as validator 3")
    };
    let culprit = cx::Address(addr(3).0);
    let status = c.status().expect("status");
    let chain = cx::ChainTag {
        chain_id: status.chain_id,
        genesis_hash: status.genesis_hash.0,
    };
    wait_for(
        "the double signer is jailed",
        Duration::from_secs(90),
        || {
            let h = net.max_height(&honest);
            for height in h..=h + 2 {
                for value in [1u8, 2] {
                    let vote = sign_vote(
                        &chain,
                        &keys_of[3],
                        cx::Vote {
                            height: cx::Height(height),
                            round: Round::new(0),
                            value: NilOrVal::Val(BlockHash([value; 32])),
                            kind: VoteType::Prevote,
                            validator: culprit,
                        },
                    );
                    p2p.broadcast(&PeerMessage::Consensus(Message::Vote(vote)));
                }
            }
            c.validators()
                .expect("validators")
                .validators
                .iter()
                .any(|v| v.address == addr(3) && v.jailed && v.power.is_none())
        },
    );
    let jailed = c
        .validators()
        .expect("validators")
        .validators
        .into_iter()
        .find(|v| v.address == addr(3))
        .expect("validator 3");
    assert!(
        jailed.tokens < devnet::DEVNET_VALIDATOR_STAKE,
        "slashed: {jailed:?}"
    );
    // Decisions with empty certificates are something no honest peer sends: each node counts
    // them and bans the sender.
    wait_for("every node bans the peer", Duration::from_secs(60), || {
        let h = net.max_height(&honest);
        for height in [h, h + 1] {
            for _ in 0..8 {
                let decision = mameynode::consensus::engine::Decision {
                    height: cx::Height(height),
                    round: Round::new(0),
                    value: cx::Value(BlockHash([9; 32])),
                    certificate: cx::CommitCertificate {
                        height: cx::Height(height),
                        round: Round::new(0),
                        value_id: BlockHash([9; 32]),
                        commit_signatures: vec![],
                    },
                };
                p2p.broadcast(&PeerMessage::Consensus(Message::Decision(Box::new(
                    decision,
                ))));
            }
        }
        honest.iter().all(|&i| {
            std::fs::read_to_string(net.log(i))
                .is_ok_and(|log| log.contains("peer banned for misbehaving"))
        })
    });
    drop(p2p);

    // Finality goes on without it, and every later block is signed by the remaining set only.
    let from = net.max_height(&honest);
    net.wait_height(&honest, from + 3, Duration::from_secs(60));
    let top = (0..3).filter_map(|i| net.height(i)).min().unwrap_or(0);
    let remaining: Vec<_> = honest.iter().map(|&i| addr(i)).collect();
    for height in from + 1..=top {
        let blocks: Vec<_> = honest
            .iter()
            .map(|&i| net.client(i).block(height).expect("block"))
            .collect();
        for b in &blocks[1..] {
            assert_eq!(b.hash, blocks[0].hash, "nodes disagree at height {height}");
        }
        let commit = blocks[0].commit.as_ref().expect("certificate");
        for s in &commit.signatures {
            assert!(
                remaining.contains(&s.validator),
                "height {height} signed by {:?}",
                s.validator
            );
        }
    }
    // The same registry everywhere.
    let views: Vec<_> = honest
        .iter()
        .map(|&i| net.client(i).validators().expect("validators"))
        .collect();
    for v in &views[1..] {
        if v.height == views[0].height {
            assert_eq!(v, &views[0]);
        }
    }
}

/// Heights finalized by the nodes `nodes` over `window`.
fn heights_over(net: &Devnet, nodes: &[usize], window: Duration) -> u64 {
    let from = net.max_height(nodes);
    std::thread::sleep(window);
    net.max_height(nodes) - from
}

#[test]
fn one_validator_down_keeps_the_pace() {
    const WINDOW: Duration = Duration::from_secs(30);
    let _one = ONE_DEVNET.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut net = devnet(tmp.path());
    for i in 0..NODES {
        net.start(i);
    }
    let all: Vec<usize> = (0..NODES).collect();
    let rest: Vec<usize> = (0..NODES - 1).collect();
    net.wait_height(&all, 3, Duration::from_secs(60));
    let up = heights_over(&net, &all, WINDOW);

    let victim = keys::address_of(
        &keys::read(&net.dir.join(format!("node-{}/validator.key", NODES - 1))).expect("key"),
    );
    net.kill(NODES - 1);
    // The schedule learns from the victim's missed turns: after the second, the next try is 100
    // heights away (the windows double), so the 30 s measured hold at most one retried turn.
    let record = |net: &Devnet| {
        net.client(0)
            .validators()
            .ok()
            .and_then(|v| v.validators.into_iter().find(|v| v.address == victim))
    };
    wait_for(
        "the victim's second missed turn",
        Duration::from_secs(90),
        || record(&net).is_some_and(|v| v.missed_proposals >= 2),
    );
    let down = heights_over(&net, &rest, WINDOW);
    eprintln!(
        "devnet pace: {up} heights in {WINDOW:?} with {NODES} validators, {down} with one down \
         ({} %)",
        down * 100 / up.max(1)
    );
    assert!(up >= 10, "only {up} heights in {WINDOW:?} with everyone up");
    assert!(
        down * 10 >= up * 7,
        "{down} heights with one validator down against {up} with all up: under 0.7"
    );
    let v = record(&net).expect("the victim is registered");
    assert!(v.missed_proposals >= 1 && v.proposed >= 1, "{v:?}");
    // Its precommits: signed while it ran, missed for every height since (node 0's view); a
    // validator that runs misses none or few (only precommits lost on the way).
    assert!(v.signed_votes >= 10 && v.missed_votes >= down, "{v:?}");
    let live = net
        .client(0)
        .validators()
        .expect("validators")
        .validators
        .into_iter()
        .find(|x| x.address != victim && x.power.is_some())
        .expect("a live validator");
    eprintln!(
        "votes seen by node 0: victim signed {} missed {}; a running validator signed {} missed {}",
        v.signed_votes, v.missed_votes, live.signed_votes, live.missed_votes
    );
    assert!(
        live.missed_votes * 10 < live.signed_votes,
        "a running validator shows missed votes: {live:?}"
    );
    // The same record in the metrics.
    let endpoints: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(net.dir.join("node-0/data/endpoints.json")).expect("endpoints"),
    )
    .expect("endpoints.json");
    let metrics = endpoints["metrics"].as_str().expect("a metrics endpoint");
    let text = ureq::get(&format!("http://{metrics}/metrics"))
        .call()
        .expect("scrape")
        .into_string()
        .expect("text");
    let victims = |gauge: &str| -> u64 {
        let line = format!("{gauge}{{validator=\"{victim}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&line))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {line} in the metrics"))
    };
    assert!(victims("mamey_validator_missed_proposals") >= 1);
    let missed_votes = victims("mamey_validator_missed_votes");
    assert!(
        missed_votes >= down,
        "{missed_votes} missed votes over {down} heights"
    );
}

/// Rewrites node `i`'s config through `edit` (as TOML), before the node starts.
fn edit_config(net: &Devnet, i: usize, edit: impl FnOnce(&mut toml::Table)) {
    let text = std::fs::read_to_string(&net.configs[i]).expect("config");
    let mut table: toml::Table = toml::from_str(&text).expect("config TOML");
    edit(&mut table);
    std::fs::write(&net.configs[i], toml::to_string(&table).expect("TOML")).expect("write");
}

/// A validator that registers after genesis and publishes its p2p address on chain is accepted
/// and dialled by the others with no config naming it (its own config names no peer either: it
/// finds the genesis validators' published addresses), and its node, started 100 heights behind,
/// catches up. Once elected it votes: with one of the four genesis validators killed, the
/// remaining three hold 60 % of the power, so the chain finalizes only with the newcomer's votes.
#[test]
fn a_validator_registered_after_genesis_joins_from_the_chain() {
    use mameynode::types::StakingCall;

    let _one = ONE_DEVNET.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut net = devnet(tmp.path());
    net.edit_genesis(|g| g.staking.epoch_blocks = 8);
    let newcomer =
        keys::read(&net.dir.join(format!("node-{FOLLOWER}/validator.key"))).expect("key");
    let newcomer_addr = keys::address_of(&newcomer);
    // Nobody's config names node 4; node 4 is a validator (not a follower) with no peers.
    for i in 0..NODES {
        edit_config(&net, i, |c| {
            let p2p = c["p2p"].as_table_mut().expect("[p2p]");
            let peers = p2p["peers"].as_array_mut().expect("peers");
            peers.retain(|p| {
                !p.as_str()
                    .is_some_and(|p| p.starts_with(&newcomer_addr.to_string()))
            });
            assert_eq!(peers.len(), NODES - 1);
        });
    }
    edit_config(&net, FOLLOWER, |c| {
        c["p2p"]["peers"] = toml::Value::Array(Vec::new());
        c["consensus"]["follower"] = toml::Value::Boolean(false);
    });
    let genesis_nodes: Vec<usize> = (0..NODES).collect();
    for &i in &genesis_nodes {
        net.start(i);
    }
    net.wait_height(&genesis_nodes, 2, Duration::from_secs(60));

    let faucet = keys::read(&net.dir.join("faucet.key")).expect("faucet key");
    let send = |key: &ed25519_dalek::SigningKey, nonce: u64, payload: Payload| {
        net.send_committed(0, key, nonce, payload)
    };
    // As much stake as each genesis validator: 1 of 5 equal powers.
    let stake = devnet::DEVNET_VALIDATOR_STAKE;
    send(
        &faucet,
        0,
        Payload::Bank(BankCall::Transfer {
            to: newcomer_addr,
            amount: stake + 1_000,
        }),
    );
    send(
        &newcomer,
        0,
        Payload::Staking(StakingCall::RegisterValidator {
            commission_bps: 0,
            amount: stake,
        }),
    );
    let endpoint = std::net::SocketAddr::from((
        [127, 0, 0, 1],
        devnet::ports(FOLLOWER, net.offset).expect("ports").p2p,
    ));
    send(
        &newcomer,
        1,
        Payload::Staking(StakingCall::SetEndpoint { endpoint }),
    );
    let power = || {
        net.client(0)
            .validators()
            .ok()
            .and_then(|v| {
                v.validators
                    .into_iter()
                    .find(|v| v.address == newcomer_addr)
            })
            .and_then(|v| v.power)
    };
    wait_for("the newcomer is elected", Duration::from_secs(60), || {
        power().is_some()
    });
    // Its node starts far behind (more heights than consensus keeps decisions for in memory):
    // it catches up from the others' stored certificates and blocks.
    net.wait_height(&genesis_nodes, 100, Duration::from_secs(120));
    net.start(FOLLOWER);
    let started = Instant::now();
    let head = net.max_height(&genesis_nodes);
    net.wait_height(&[FOLLOWER], head, Duration::from_secs(120));
    eprintln!(
        "the newcomer caught up {head} heights in {:?}",
        started.elapsed()
    );

    net.kill(NODES - 1);
    let voters: Vec<usize> = (0..NODES - 1).chain([FOLLOWER]).collect();
    let from = net.max_height(&voters);
    net.wait_height(&voters, from + 10, Duration::from_secs(120));
    let at = from + 5;
    let hash = |i: usize| net.client(i).block(at).expect("block").hash;
    assert!(
        voters.iter().all(|&i| hash(i) == hash(0)),
        "every node holds the same block at height {at}"
    );
}
