//! Four validators as real processes on loopback (`mameynode devnet init`, then `mameynode run
//! --config` for each): a transfer is final on every node; with one validator killed (-9) finality
//! goes on and the validator catches up when it returns; with two killed finality halts without a
//! fork, and resumes when they return; every node reports the same hash for every height, each
//! block with a commit certificate of at least three validators.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{new_address, BIN};
use mameynode::devnet::{self, DEVNET_CHAIN_ID};
use mameynode::keys;
use mameynode::rpc::client::RpcClient;
use mameynode::types::{BankCall, Payload, Transaction};

const NODES: usize = 4;

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
        for i in 0..NODES {
            self.kill(i);
        }
        if std::thread::panicking() {
            for i in 0..NODES {
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
    // runs apart.
    let offset = 2_000 + (std::process::id() % 50) as u16 * 20;
    let dir = tmp.join("net");
    let configs = devnet::init(NODES, &dir, offset).expect("devnet init");
    Devnet {
        dir,
        configs,
        children: (0..NODES).map(|_| None).collect(),
        offset,
    }
}

#[test]
fn four_validators_survive_crashes_and_never_fork() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut net = devnet(tmp.path());
    for i in 0..NODES {
        net.start(i);
    }
    let all: Vec<usize> = (0..NODES).collect();
    net.wait_height(&all, 3, Duration::from_secs(60));

    // A transfer sent to one node is final on every node.
    let faucet = keys::read(&net.dir.join("faucet.key")).expect("faucet key");
    let to = new_address();
    let tx = Transaction::sign(
        &faucet,
        DEVNET_CHAIN_ID,
        0,
        1,
        Payload::Bank(BankCall::Transfer { to, amount: 4_321 }),
    );
    net.client(1).send_transaction(&tx).expect("send");
    let started = Instant::now();
    while !all
        .iter()
        .all(|&i| net.client(i).account(&to).is_ok_and(|a| a.balance == 4_321))
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "transfer not final everywhere"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

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

    // One chain: the same block at every height on every node, each with a certificate.
    let top = (0..NODES).filter_map(|i| net.height(i)).min().unwrap_or(0);
    for height in 1..=top {
        let blocks: Vec<_> = (0..NODES)
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
    }
}
