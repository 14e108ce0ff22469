//! A validator killed after its block was decided but before the block was committed: on restart
//! the node replays its consensus log, finds the block it proposed (`consensus/proposal.block`),
//! executes it again and commits that very block with the certificate the log proves, instead of
//! building a different block for the height.
//!
//! The crash is set up on disk exactly as the node leaves it: genesis committed, the block written
//! by `write_proposal`, and the log records the engine asked to persist up to the decision.

use std::sync::Arc;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use mameynode::codec::decode_exact;
use mameynode::config::NodeConfig;
use mameynode::consensus::context::{BlockHash, Height, Round, Value};
use mameynode::consensus::engine::{
    verify_certificate, Decision, Effect, Engine, EngineConfig, Input,
};
use mameynode::consensus::wal::WalFile;
use mameynode::consensus::wire::MESSAGE_BYTES_MAX;
use mameynode::genesis::{Genesis, GenesisAccount};
use mameynode::keys;
use mameynode::pipeline::{
    build_block, single_validator, write_proposal, Pipeline, ValidatorIdentity,
};
use mameynode::sigverify::CpuVerifier;
use mameynode::storage::Storage;

#[test]
fn a_decided_block_survives_a_crash_before_its_commit() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut config = NodeConfig {
        data_dir: tmp.path().to_path_buf(),
        ..NodeConfig::default()
    };
    // No block of the node's own may reach height 1 before the replayed one.
    config.block.interval_ms = 60_000;
    let validator = SigningKey::from_bytes(&[7; 32]);
    let genesis = Genesis {
        chain_id: 7,
        timestamp_ms: 1_000,
        validator: keys::address_of(&validator),
        validators: vec![],
        min_fee: 1,
        staking: Default::default(),
        banking: Default::default(),
        identity: Default::default(),
        compliance: Default::default(),
        payments: Default::default(),
        dex: Default::default(),
        accounts: vec![GenesisAccount {
            address: keys::address_of(&SigningKey::from_bytes(&[8; 32])),
            balance: 1_000_000,
        }],
    };
    let storage = Arc::new(
        Storage::open(&config.db_path(), &config.storage.storage_config()).expect("storage"),
    );
    let (block0, state0, stake0, lthash0) = genesis.build();
    let head = storage
        .initialize(&block0, &state0, &stake0, &lthash0, "{}")
        .expect("genesis");

    // Before the crash: the block for height 1, its file, and the log up to the decision.
    let params = genesis.params();
    let proposer = keys::address_of(&validator);
    let built = build_block(
        &storage,
        &params,
        &proposer,
        usize::MAX,
        head,
        2_000,
        vec![],
    )
    .expect("block 1")
    .expect("built on the head");
    let hash = BlockHash(built.block.hash().0);
    let dir = config.consensus_path();
    std::fs::create_dir_all(&dir).expect("consensus dir");
    write_proposal(&dir, &built.block).expect("proposal file");
    let (mut wal, _) = WalFile::open(&dir.join("wal"), Height(1), 1 << 20).expect("wal");
    let chain = params.chain_tag();
    let (mut engine, _) = Engine::new(
        EngineConfig {
            chain,
            ..EngineConfig::default()
        },
        validator.clone(),
        single_validator(proposer),
        Height(1),
        vec![],
    );
    let effects = engine
        .handle(Input::ProposeValue {
            height: Height(1),
            round: Round::ZERO,
            value: Value(hash),
        })
        .expect("own value");
    let mut decided = false;
    for e in effects {
        match e {
            Effect::Persist(entry) => wal.append(&entry).expect("append"),
            Effect::Decided(d) => {
                // The node syncs its log before a decision leaves the consensus stage.
                wal.sync().expect("sync");
                decided = true;
                assert_eq!(d.value, Value(hash));
                break; // killed here: decided, not committed
            }
            _ => {}
        }
    }
    assert!(decided, "a single validator decides its own block at once");
    drop(wal);
    assert_eq!(storage.head().expect("head").height, 0);

    // Restart.
    let system = actix::System::new();
    system.block_on(async move {
        let (fatal_tx, _fatal_rx) = tokio::sync::mpsc::channel(4);
        let pipeline = Pipeline::start(
            &config,
            storage.clone(),
            params,
            ValidatorIdentity {
                key: validator,
                p2p: None,
            },
            Box::new(CpuVerifier::default()),
            fatal_tx,
        )
        .expect("pipeline");
        let mut heads = pipeline.head.clone();
        tokio::time::timeout(Duration::from_secs(30), heads.wait_for(|h| h.height >= 1))
            .await
            .expect("block 1 committed in time")
            .expect("head channel open");
        let committed = storage.block(1).expect("read").expect("block 1");
        assert_eq!(
            committed.hash(),
            built.block.hash(),
            "the block decided before the crash"
        );
        let bytes = storage.certificate(1).expect("read").expect("certificate");
        let d: Decision = decode_exact(&bytes, MESSAGE_BYTES_MAX).expect("decision");
        assert_eq!(d.value, Value(hash));
        verify_certificate(&chain, &single_validator(proposer), &d).expect("certificate verifies");
        pipeline.stop();
    });
}
