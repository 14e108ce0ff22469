//! Storage: the only module that touches LMDB.
//!
//! One LMDB environment under `DATA_DIR/db` with eight named databases:
//!
//! | database   | key                 | value                                             |
//! |------------|---------------------|---------------------------------------------------|
//! | `accounts` | address (32 bytes)  | encoded [`Account`]                               |
//! | `blocks`   | height (u64, BE)    | encoded [`Block`] (header and transactions)       |
//! | `receipts` | height (u64, BE)    | receipts of that block, in block order            |
//! | `txindex`  | tx id (32 bytes)    | height and position of the including block (written behind commits, see below) |
//! | `diffs`    | height (u64, BE)    | the accounts that block wrote, with their new value |
//! | `state`    | module state key (tag first) | the module's encoded value (staking, issued assets, ...) |
//! | `commits`  | height (u64, BE)    | the consensus decision with its commit certificate (`consensus::wire`) |
//! | `meta`     | name                | chain head, state LtHash, genesis, indexed height |
//!
//! Invariants:
//! - Each block is committed in exactly one write transaction together with its state writes, its
//!   receipts, the new LtHash and the new head. LMDB commits are atomic, and by
//!   default synced, so after a crash (kill -9 at any moment) the store holds exactly the blocks up
//!   to the head and the state after the head: never a half block.
//! - Blocks are committed in order: block `h` is accepted only on top of head `h - 1` with the
//!   matching parent hash.
//! - The transaction index is derived data, kept off the commit path: a block's ids enter an
//!   in-memory map of committed, not yet indexed transactions as soon as it is committed (every
//!   lookup consults it), and [`Storage::index_pending`] (a background thread, see
//!   [`Storage::start_indexer`]) writes them in key order, many blocks per write, together with the
//!   `indexed` height. Random 32-byte keys inserted one block at a time dirtied most of the index's
//!   pages at every commit; batched, they cost a fraction. After a crash, the blocks above the
//!   `indexed` height are read back into the map at open: no committed transaction is ever missing
//!   from lookups.
//! - When the map is full the write fails as a whole with [`StorageError::MapFull`], which tells the
//!   operator what to raise; nothing is corrupted and a restart with a larger map resumes.

mod history;

pub use history::HISTORY_PAGE_MAX;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use lmdb::{
    Database, DatabaseFlags, Environment, EnvironmentFlags, RoTransaction, RwTransaction,
    Transaction as _, WriteFlags,
};
use thiserror::Error;

use crate::codec::{decode_exact, put_u32, put_u64, put_u8, Decode, DecodeError, Encode, Reader};
use crate::execution::{StateScan, StateView};
use crate::modules::staking::state::{StakeKey, StakeValue};
use crate::state::LtHash;
use crate::types::{Account, Address, Block, Hash, Height, Receipt, StateKey, StateWrites, TxId};

/// Storage settings.
#[derive(Debug, Clone)]
pub struct StorageConfig {
    /// Size of the LMDB memory map: the most the database can grow to.
    pub map_size_mb: u64,
    /// Sync each commit to disk (the default). Turning it off trades crash durability for speed and
    /// is only for benchmarks of everything else.
    pub durable: bool,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            map_size_mb: 64 * 1024,
            durable: true,
        }
    }
}

#[derive(Debug, Error)]
pub enum StorageError {
    #[error(
        "storage is full: the LMDB map of {map_size_mb} MiB is used up; raise `storage.map_size_mb` \
         in the config (or pass --map-size-mb) and restart — nothing committed is lost"
    )]
    MapFull { map_size_mb: u64 },
    #[error("LMDB failed to {op}: {source}")]
    Lmdb {
        op: &'static str,
        #[source]
        source: lmdb::Error,
    },
    #[error("cannot use data directory {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("corrupt {table} record: {source}")]
    Corrupt {
        table: &'static str,
        #[source]
        source: DecodeError,
    },
    #[error("the database has no chain yet (no genesis committed)")]
    Uninitialized,
    #[error("block {got} does not extend the head {head} (parent hash mismatch or wrong height)")]
    NotNextBlock { head: Height, got: Height },
}

type Result<T> = std::result::Result<T, StorageError>;

fn lmdb_err(op: &'static str, map_size_mb: u64) -> impl Fn(lmdb::Error) -> StorageError {
    move |source| match source {
        lmdb::Error::MapFull => StorageError::MapFull { map_size_mb },
        source => StorageError::Lmdb { op, source },
    }
}

/// The head of the committed chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainHead {
    pub height: Height,
    pub hash: Hash,
    pub state_root: Hash,
    pub timestamp_ms: u64,
}

const HEAD_VERSION: u8 = 1;

impl Encode for ChainHead {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put_u8(out, HEAD_VERSION);
        put_u64(out, self.height);
        out.extend_from_slice(&self.hash.0);
        out.extend_from_slice(&self.state_root.0);
        put_u64(out, self.timestamp_ms);
    }
}

impl Decode for ChainHead {
    const WHAT: &'static str = "chain head";
    fn decode_from(r: &mut Reader<'_>) -> std::result::Result<Self, DecodeError> {
        r.version(Self::WHAT, HEAD_VERSION)?;
        Ok(ChainHead {
            height: r.u64("head height")?,
            hash: Hash(r.array("head hash")?),
            state_root: Hash(r.array("head state root")?),
            timestamp_ms: r.u64("head timestamp")?,
        })
    }
}

/// Where a committed transaction is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxLocation {
    pub height: Height,
    pub index: u32,
}

const TXLOC_VERSION: u8 = 1;

impl Encode for TxLocation {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put_u8(out, TXLOC_VERSION);
        put_u64(out, self.height);
        put_u32(out, self.index);
    }
}

impl Decode for TxLocation {
    const WHAT: &'static str = "tx location";
    fn decode_from(r: &mut Reader<'_>) -> std::result::Result<Self, DecodeError> {
        r.version(Self::WHAT, TXLOC_VERSION)?;
        Ok(TxLocation {
            height: r.u64("tx height")?,
            index: r.u32("tx index")?,
        })
    }
}

/// The accounts one block wrote, in address order.
struct AccountDiff(Vec<(Address, Account)>);

impl Encode for AccountDiff {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put_u32(out, self.0.len() as u32);
        for (a, acc) in &self.0 {
            out.extend_from_slice(&a.0);
            acc.encode_to(out);
        }
    }
}

impl Decode for AccountDiff {
    const WHAT: &'static str = "account diff";
    fn decode_from(r: &mut Reader<'_>) -> std::result::Result<Self, DecodeError> {
        let n = r.len_prefix("diff count", RECORD_LEN_MAX, 32 + Account::ENCODED_LEN)?;
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            let a = Address(r.array("diff address")?);
            v.push((a, Account::decode_from(r)?));
        }
        Ok(AccountDiff(v))
    }
}

struct Receipts(Vec<Receipt>);

impl Encode for Receipts {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put_u32(out, self.0.len() as u32);
        for r in &self.0 {
            r.encode_to(out);
        }
    }
}

impl Decode for Receipts {
    const WHAT: &'static str = "receipts";
    fn decode_from(r: &mut Reader<'_>) -> std::result::Result<Self, DecodeError> {
        let n = r.len_prefix("receipt count", crate::types::TX_SIZE_MAX * 64, 1)?;
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(Receipt::decode_from(r)?);
        }
        Ok(Receipts(v))
    }
}

/// Everything one block commit writes.
pub struct BlockCommit<'a> {
    pub block: &'a Block,
    /// The encoded consensus decision that finalized the block (none for genesis).
    pub certificate: Option<&'a [u8]>,
    pub receipts: &'a [Receipt],
    pub writes: &'a BTreeMap<Address, Account>,
    /// Module state entries written (`Some`) or deleted (`None`).
    pub state_writes: &'a StateWrites,
    pub lthash: &'a LtHash,
}

const META_HEAD: &[u8] = b"head";
const META_LTHASH: &[u8] = b"lthash";
const META_GENESIS: &[u8] = b"genesis";
/// Height up to which every block's transactions are in `txindex`.
const META_INDEXED: &[u8] = b"indexed";
/// Committed transactions that may wait in memory for the indexer before commits index in line.
const UNINDEXED_TXS_MAX: usize = 4 << 20;
/// Index entries per write transaction of the indexer: bounds how long it holds LMDB's writer
/// lock, which commits wait for.
const INDEX_KEYS_PER_WRITE: usize = 16_384;

/// A record size limit for decoding our own records: generous, but a corrupt length cannot allocate
/// without bound.
const RECORD_LEN_MAX: usize = 1 << 30;

pub struct Storage {
    env: Environment,
    accounts: Database,
    blocks: Database,
    receipts: Database,
    txindex: Database,
    diffs: Database,
    commits: Database,
    state: Database,
    history: Database,
    meta: Database,
    map_size_mb: u64,
    path: PathBuf,
    /// Committed transactions not yet in `txindex`, by id (bounded by what commits in one
    /// indexer period).
    unindexed: std::sync::RwLock<BTreeMap<TxId, TxLocation>>,
    /// History entries of the same blocks, not yet in `history`.
    unindexed_history: std::sync::RwLock<BTreeSet<history::HistoryKey>>,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Storage({})", self.path.display())
    }
}

impl Storage {
    /// Opens (creating if needed) the store in `dir`.
    pub fn open(dir: &Path, config: &StorageConfig) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|source| StorageError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let mut flags = EnvironmentFlags::NO_TLS;
        if !config.durable {
            flags |= EnvironmentFlags::NO_SYNC;
        }
        let map_size_bytes =
            usize::try_from(config.map_size_mb.saturating_mul(1 << 20)).unwrap_or(usize::MAX);
        let err = |op| lmdb_err(op, config.map_size_mb);
        let env = Environment::new()
            .set_flags(flags)
            .set_max_dbs(12)
            .set_max_readers(1024)
            .set_map_size(map_size_bytes)
            .open(dir)
            .map_err(err("open the environment"))?;
        let create = |name| {
            env.create_db(Some(name), DatabaseFlags::empty())
                .map_err(err("create a database"))
        };
        let accounts = create("accounts")?;
        let blocks = create("blocks")?;
        let receipts = create("receipts")?;
        let txindex = create("txindex")?;
        let diffs = create("diffs")?;
        let commits = create("commits")?;
        let state = create("state")?;
        let history = create("history")?;
        let meta = create("meta")?;
        let storage = Storage {
            env,
            accounts,
            blocks,
            receipts,
            txindex,
            diffs,
            commits,
            state,
            history,
            meta,
            map_size_mb: config.map_size_mb,
            path: dir.to_path_buf(),
            unindexed: std::sync::RwLock::new(BTreeMap::new()),
            unindexed_history: std::sync::RwLock::new(BTreeSet::new()),
        };
        storage.recover_unindexed()?;
        Ok(storage)
    }

    /// Reads the blocks above the indexed height back into the map of unindexed transactions.
    fn recover_unindexed(&self) -> Result<()> {
        let head = match self.head() {
            Ok(h) => h.height,
            Err(StorageError::Uninitialized) => return Ok(()),
            Err(e) => return Err(e),
        };
        let indexed = self.indexed_height()?;
        for height in indexed + 1..=head {
            let block = self.block(height)?.ok_or(StorageError::Corrupt {
                table: "blocks",
                source: DecodeError::InvalidValue {
                    what: "block",
                    reason: "missing below the head",
                },
            })?;
            let receipts = self.receipts(height)?;
            self.note_unindexed(&block, &receipts);
        }
        Ok(())
    }

    fn indexed_height(&self) -> Result<Height> {
        self.indexed_height_in(&self.ro()?)
    }

    fn indexed_height_in(&self, txn: &impl lmdb::Transaction) -> Result<Height> {
        match txn.get(self.meta, &META_INDEXED) {
            Ok(bytes) => <[u8; 8]>::try_from(bytes)
                .map(u64::from_le_bytes)
                .map_err(|_| StorageError::Corrupt {
                    table: "meta",
                    source: DecodeError::InvalidValue {
                        what: "indexed height",
                        reason: "wrong length",
                    },
                }),
            Err(lmdb::Error::NotFound) => Ok(0),
            Err(e) => Err(self.err("read")(e)),
        }
    }

    fn note_unindexed(&self, block: &Block, receipts: &[Receipt]) {
        let entries = history::block_entries(block, receipts);
        self.unindexed_history
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .extend(entries);
        let mut map = self.unindexed.write().unwrap_or_else(|e| e.into_inner());
        for (i, tx) in block.transactions.iter().enumerate() {
            map.insert(
                tx.id,
                TxLocation {
                    height: block.header.height,
                    index: i as u32,
                },
            );
        }
    }

    fn unindexed_location(&self, id: &TxId) -> Option<TxLocation> {
        self.unindexed
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .copied()
    }

    /// Transactions committed and not yet in the on-disk index.
    pub fn unindexed_len(&self) -> usize {
        self.unindexed
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// Writes every committed, unindexed transaction to `txindex` in key order (a few write
    /// transactions of at most `INDEX_KEYS_PER_WRITE`), then the indexed height, then forgets
    /// them from memory. Returns how many were written.
    pub fn index_pending(&self) -> Result<usize> {
        let batch: Vec<(TxId, TxLocation)> = self
            .unindexed
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(id, loc)| (*id, *loc))
            .collect();
        // Blocks enter the map whole, so every height up to the highest here is complete.
        let Some(top) = batch.iter().map(|(_, l)| l.height).max() else {
            return Ok(0);
        };
        // Every history entry of the blocks in `batch` (entries of blocks committed since are at
        // most written early, which lookups tolerate).
        let history: Vec<history::HistoryKey> = self
            .unindexed_history
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .copied()
            .collect();
        for chunk in history.chunks(INDEX_KEYS_PER_WRITE) {
            let mut txn = self.env.begin_rw_txn().map_err(self.err("begin a write"))?;
            for k in chunk {
                self.put(&mut txn, self.history, k, &[])?;
            }
            txn.commit().map_err(self.err("commit history entries"))?;
        }
        let chunks: Vec<&[(TxId, TxLocation)]> = batch.chunks(INDEX_KEYS_PER_WRITE).collect();
        for (i, chunk) in chunks.iter().enumerate() {
            let mut txn = self.env.begin_rw_txn().map_err(self.err("begin a write"))?;
            for (id, loc) in chunk.iter() {
                self.put(&mut txn, self.txindex, &id.0, &loc.to_bytes())?;
            }
            if i + 1 == chunks.len() {
                let indexed = self.indexed_height_in(&txn)?.max(top);
                self.put(&mut txn, self.meta, META_INDEXED, &indexed.to_le_bytes())?;
            }
            txn.commit().map_err(self.err("commit index entries"))?;
        }
        let mut set = self
            .unindexed_history
            .write()
            .unwrap_or_else(|e| e.into_inner());
        for k in &history {
            set.remove(k);
        }
        drop(set);
        let mut map = self.unindexed.write().unwrap_or_else(|e| e.into_inner());
        for (id, loc) in &batch {
            if map.get(id) == Some(loc) {
                map.remove(id);
            }
        }
        Ok(batch.len())
    }

    /// Runs [`Storage::index_pending`] every `period` on a thread of its own, until the storage is
    /// dropped. A failure is logged and retried: lookups still find the transactions in memory.
    pub fn start_indexer(self: &std::sync::Arc<Self>, period: std::time::Duration) {
        let weak = std::sync::Arc::downgrade(self);
        let spawned = std::thread::Builder::new()
            .name("txindex".into())
            .spawn(move || loop {
                std::thread::sleep(period);
                let Some(storage) = weak.upgrade() else {
                    return;
                };
                if let Err(e) = storage.index_pending() {
                    tracing::error!(error = %e, "cannot write the transaction index; retrying");
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the indexer thread; the index stays in memory");
        }
    }

    fn err(&self, op: &'static str) -> impl Fn(lmdb::Error) -> StorageError {
        lmdb_err(op, self.map_size_mb)
    }

    fn ro(&self) -> Result<RoTransaction<'_>> {
        self.env.begin_ro_txn().map_err(self.err("begin a read"))
    }

    fn get_decoded<T: Decode>(
        &self,
        txn: &impl lmdb::Transaction,
        db: Database,
        key: &[u8],
        table: &'static str,
    ) -> Result<Option<T>> {
        match txn.get(db, &key) {
            Ok(bytes) => decode_exact(bytes, RECORD_LEN_MAX)
                .map(Some)
                .map_err(|source| StorageError::Corrupt { table, source }),
            Err(lmdb::Error::NotFound) => Ok(None),
            Err(e) => Err(self.err("read")(e)),
        }
    }

    /// The committed head, or [`StorageError::Uninitialized`] before genesis.
    pub fn head(&self) -> Result<ChainHead> {
        let txn = self.ro()?;
        self.get_decoded(&txn, self.meta, META_HEAD, "meta")?
            .ok_or(StorageError::Uninitialized)
    }

    pub fn is_initialized(&self) -> Result<bool> {
        match self.head() {
            Ok(_) => Ok(true),
            Err(StorageError::Uninitialized) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The state LtHash at the head.
    pub fn lthash(&self) -> Result<LtHash> {
        self.reader()?.lthash()
    }

    /// The genesis document this chain was created from (JSON).
    pub fn genesis_json(&self) -> Result<String> {
        let txn = self.ro()?;
        match txn.get(self.meta, &META_GENESIS) {
            Ok(bytes) => Ok(String::from_utf8_lossy(bytes).into_owned()),
            Err(lmdb::Error::NotFound) => Err(StorageError::Uninitialized),
            Err(e) => Err(self.err("read")(e)),
        }
    }

    pub fn account(&self, address: &Address) -> Result<Account> {
        let txn = self.ro()?;
        Ok(self
            .get_decoded(&txn, self.accounts, &address.0, "accounts")?
            .unwrap_or_default())
    }

    /// The validator registry and active set at the committed head.
    pub fn registry(&self) -> Result<crate::types::Registry> {
        self.reader()?.registry()
    }

    /// A module state entry at the committed head.
    pub fn state_entry(&self, key: &StateKey) -> Result<Option<Vec<u8>>> {
        self.reader()?.get(key)
    }

    /// A consistent snapshot of the state for executing a block or answering several reads.
    pub fn reader(&self) -> Result<StateReader<'_>> {
        Ok(StateReader {
            storage: self,
            txn: self.ro()?,
        })
    }

    pub fn block(&self, height: Height) -> Result<Option<Block>> {
        let txn = self.ro()?;
        self.get_decoded(&txn, self.blocks, &height.to_be_bytes(), "blocks")
    }

    /// The header of the block at `height`, decoded alone (not its transactions).
    pub fn block_header(&self, height: Height) -> Result<Option<crate::types::BlockHeader>> {
        let txn = self.ro()?;
        let bytes = match txn.get(self.blocks, &height.to_be_bytes()) {
            Ok(b) => b,
            Err(lmdb::Error::NotFound) => return Ok(None),
            Err(e) => return Err(self.err("read")(e)),
        };
        let mut r = Reader::new(bytes);
        crate::types::BlockHeader::decode_from(&mut r)
            .map(Some)
            .map_err(|source| StorageError::Corrupt {
                table: "blocks",
                source,
            })
    }

    /// The transaction at `index` of the block at `height`, decoded alone: the others are
    /// skipped by their length prefixes (history pages and lookups need one transaction of
    /// blocks that hold tens of thousands).
    pub fn block_tx(&self, height: Height, index: u32) -> Result<Option<crate::types::TxEnvelope>> {
        let txn = self.ro()?;
        let bytes = match txn.get(self.blocks, &height.to_be_bytes()) {
            Ok(b) => b,
            Err(lmdb::Error::NotFound) => return Ok(None),
            Err(e) => return Err(self.err("read")(e)),
        };
        let corrupt = |source| StorageError::Corrupt {
            table: "blocks",
            source,
        };
        let mut r = Reader::new(bytes);
        let header = crate::types::BlockHeader::decode_from(&mut r).map_err(corrupt)?;
        if index >= header.tx_count {
            return Ok(None);
        }
        for _ in 0..index {
            r.bytes("block transaction", crate::types::TX_SIZE_MAX)
                .map_err(corrupt)?;
        }
        let tx = r
            .bytes("block transaction", crate::types::TX_SIZE_MAX)
            .map_err(corrupt)?;
        crate::types::TxEnvelope::decode(tx, crate::types::TX_SIZE_MAX)
            .map(Some)
            .map_err(corrupt)
    }

    pub fn receipts(&self, height: Height) -> Result<Vec<Receipt>> {
        let txn = self.ro()?;
        Ok(self
            .get_decoded::<Receipts>(&txn, self.receipts, &height.to_be_bytes(), "receipts")?
            .map(|r| r.0)
            .unwrap_or_default())
    }

    /// The accounts the block at `height` wrote, with their values after it (empty if none).
    pub fn account_diff(&self, height: Height) -> Result<Vec<(Address, Account)>> {
        let txn = self.ro()?;
        Ok(self
            .get_decoded::<AccountDiff>(&txn, self.diffs, &height.to_be_bytes(), "diffs")?
            .map(|d| d.0)
            .unwrap_or_default())
    }

    /// The encoded consensus decision of the block at `height` (none for genesis or unknown
    /// heights).
    pub fn certificate(&self, height: Height) -> Result<Option<Vec<u8>>> {
        let txn = self.ro()?;
        match txn.get(self.commits, &height.to_be_bytes()) {
            Ok(bytes) => Ok(Some(bytes.to_vec())),
            Err(lmdb::Error::NotFound) => Ok(None),
            Err(e) => Err(self.err("read")(e)),
        }
    }

    pub fn tx_location(&self, id: &TxId) -> Result<Option<TxLocation>> {
        if let Some(loc) = self.unindexed_location(id) {
            return Ok(Some(loc));
        }
        let txn = self.ro()?;
        self.get_decoded(&txn, self.txindex, &id.0, "txindex")
    }

    /// Writes the genesis block and state. Fails if the store already holds a chain.
    pub fn initialize(
        &self,
        genesis_block: &Block,
        accounts: &BTreeMap<Address, Account>,
        state: &StateWrites,
        lthash: &LtHash,
        genesis_json: &str,
    ) -> Result<ChainHead> {
        assert_eq!(genesis_block.header.height, 0, "genesis is height 0");
        assert!(!self.is_initialized()?, "initialize runs once per store");
        let mut txn = self.env.begin_rw_txn().map_err(self.err("begin a write"))?;
        self.put(&mut txn, self.meta, META_GENESIS, genesis_json.as_bytes())?;
        let head = self.write_block(
            &mut txn,
            &BlockCommit {
                block: genesis_block,
                certificate: None,
                receipts: &[],
                writes: accounts,
                state_writes: state,
                lthash,
            },
        )?;
        txn.commit().map_err(self.err("commit genesis"))?;
        Ok(head)
    }

    /// Commits one block atomically and durably; returns the new head.
    pub fn commit_block(&self, commit: &BlockCommit<'_>) -> Result<ChainHead> {
        let mut txn = self.env.begin_rw_txn().map_err(self.err("begin a write"))?;
        let head: ChainHead = self
            .get_decoded(&txn, self.meta, META_HEAD, "meta")?
            .ok_or(StorageError::Uninitialized)?;
        let h = &commit.block.header;
        if h.height != head.height + 1 || h.parent_hash != head.hash {
            return Err(StorageError::NotNextBlock {
                head: head.height,
                got: h.height,
            });
        }
        let new_head = self.write_block(&mut txn, commit)?;
        txn.commit().map_err(self.err("commit a block"))?;
        self.note_unindexed(commit.block, commit.receipts);
        // Bounded memory: when the indexer falls this far behind (its writes keep failing, or
        // it cannot keep up), commits index in line until it has caught up.
        if self.unindexed_len() > UNINDEXED_TXS_MAX {
            tracing::warn!(
                unindexed = self.unindexed_len(),
                "the transaction index fell behind; indexing before the next commit"
            );
            // The block is committed either way; a failure here shows again at the next commit.
            if let Err(e) = self.index_pending() {
                tracing::error!(error = %e, "cannot write the transaction index");
            }
        }
        Ok(new_head)
    }

    fn put(&self, txn: &mut RwTransaction<'_>, db: Database, key: &[u8], val: &[u8]) -> Result<()> {
        txn.put(db, &key, &val, WriteFlags::empty())
            .map_err(self.err("write"))
    }

    /// Appends under a key greater than every key in `db` (heights only grow): LMDB then fills the
    /// last page instead of searching the tree.
    fn append(
        &self,
        txn: &mut RwTransaction<'_>,
        db: Database,
        key: &[u8],
        val: &[u8],
    ) -> Result<()> {
        txn.put(db, &key, &val, WriteFlags::APPEND)
            .map_err(self.err("append"))
    }

    fn write_block(&self, txn: &mut RwTransaction<'_>, c: &BlockCommit<'_>) -> Result<ChainHead> {
        let header = &c.block.header;
        assert_eq!(
            header.state_root,
            c.lthash.root(),
            "the header commits to the state being written"
        );
        let mut buf = Vec::with_capacity(Account::ENCODED_LEN);
        for (address, account) in c.writes {
            buf.clear();
            account.encode_to(&mut buf);
            self.put(txn, self.accounts, &address.0, &buf)?;
        }
        for (key, value) in c.state_writes {
            let k = key.as_bytes();
            match value {
                Some(v) => self.put(txn, self.state, k, v)?,
                None => match txn.del(self.state, &k, None) {
                    Ok(()) | Err(lmdb::Error::NotFound) => {}
                    Err(e) => return Err(self.err("delete")(e)),
                },
            }
        }
        // Heights are big-endian keys that only grow: append. `commit_block` has checked that this
        // block is the next one.
        let key = header.height.to_be_bytes();
        self.append(txn, self.blocks, &key, &c.block.to_bytes())?;
        let diff = AccountDiff(c.writes.iter().map(|(a, acc)| (*a, *acc)).collect());
        self.append(txn, self.diffs, &key, &diff.to_bytes())?;
        if let Some(certificate) = c.certificate {
            self.append(txn, self.commits, &key, certificate)?;
        }
        self.append(
            txn,
            self.receipts,
            &key,
            &Receipts(c.receipts.to_vec()).to_bytes(),
        )?;
        self.put(txn, self.meta, META_LTHASH, &c.lthash.to_bytes())?;
        let head = ChainHead {
            height: header.height,
            hash: header.hash(),
            state_root: header.state_root,
            timestamp_ms: header.timestamp_ms,
        };
        self.put(txn, self.meta, META_HEAD, &head.to_bytes())?;
        Ok(head)
    }

    /// Flushes everything to disk (for shutdown when commits are not synced one by one).
    pub fn sync(&self) -> Result<()> {
        self.env.sync(true).map_err(self.err("sync"))
    }
}

/// A read snapshot of the state: all reads through it see the same committed head.
pub struct StateReader<'s> {
    storage: &'s Storage,
    txn: RoTransaction<'s>,
}

impl StateReader<'_> {
    /// Where a committed transaction is (possibly in a block newer than this snapshot).
    pub fn tx_location(&self, id: &TxId) -> Result<Option<TxLocation>> {
        if let Some(loc) = self.storage.unindexed_location(id) {
            return Ok(Some(loc));
        }
        self.storage
            .get_decoded(&self.txn, self.storage.txindex, &id.0, "txindex")
    }

    pub fn head(&self) -> Result<ChainHead> {
        self.storage
            .get_decoded(&self.txn, self.storage.meta, META_HEAD, "meta")?
            .ok_or(StorageError::Uninitialized)
    }
}

impl StateReader<'_> {
    /// The state LtHash at this snapshot's head.
    pub fn lthash(&self) -> Result<LtHash> {
        match self.txn.get(self.storage.meta, &META_LTHASH) {
            Ok(bytes) => LtHash::from_bytes(bytes).ok_or(StorageError::Corrupt {
                table: "meta",
                source: DecodeError::InvalidValue {
                    what: "lthash",
                    reason: "wrong length",
                },
            }),
            Err(lmdb::Error::NotFound) => Err(StorageError::Uninitialized),
            Err(e) => Err(self.storage.err("read")(e)),
        }
    }
}

impl StateReader<'_> {
    /// A staking entry at this snapshot's head, decoded.
    fn stake_entry(&self, key: &StakeKey) -> Result<Option<StakeValue>> {
        let entry = self.get(&crate::modules::staking::state_key(key))?;
        entry
            .map(|b| decode_exact::<StakeValue>(&b, RECORD_LEN_MAX))
            .transpose()
            .map_err(|source| StorageError::Corrupt {
                table: "state",
                source,
            })
    }

    /// The proposer schedule's state at this snapshot's head (`None` before the first block).
    pub fn leaders(&self) -> Result<Option<crate::consensus::leader::LeaderState>> {
        Ok(match self.stake_entry(&StakeKey::Leaders)? {
            Some(StakeValue::Leaders(l)) => Some(l),
            _ => None,
        })
    }

    /// Where `validator` published that it takes p2p connections, if it did.
    pub fn endpoint(&self, validator: &Address) -> Result<Option<std::net::SocketAddr>> {
        let key = StakeKey::Endpoint {
            validator: *validator,
        };
        Ok(match self.stake_entry(&key)? {
            Some(StakeValue::Endpoint(e)) => Some(e),
            _ => None,
        })
    }

    /// The validator registry and active set at this snapshot's head.
    pub fn registry(&self) -> Result<crate::types::Registry> {
        match self.stake_entry(&StakeKey::Registry)? {
            Some(StakeValue::Registry(r)) => Ok(r),
            _ => Err(StorageError::Corrupt {
                table: "state",
                source: DecodeError::InvalidValue {
                    what: "validator registry",
                    reason:
                        "missing (a data directory from before the module runtime: create it again)",
                },
            }),
        }
    }
}

impl StateView for StateReader<'_> {
    type Error = StorageError;
    fn account(&self, address: &Address) -> Result<Account> {
        Ok(self
            .storage
            .get_decoded(&self.txn, self.storage.accounts, &address.0, "accounts")?
            .unwrap_or_default())
    }
    fn get(&self, key: &StateKey) -> Result<Option<Vec<u8>>> {
        match self.txn.get(self.storage.state, &key.as_bytes()) {
            Ok(bytes) => Ok(Some(bytes.to_vec())),
            Err(lmdb::Error::NotFound) => Ok(None),
            Err(e) => Err(self.storage.err("read")(e)),
        }
    }
}

impl StateScan for StateReader<'_> {
    fn scan(
        &self,
        prefix: &StateKey,
        start_after: Option<&StateKey>,
        limit: usize,
    ) -> Result<Vec<(StateKey, Vec<u8>)>> {
        use lmdb::Cursor as _;
        let mut cursor = self
            .txn
            .open_ro_cursor(self.storage.state)
            .map_err(self.storage.err("open a cursor"))?;
        let start = start_after.unwrap_or(prefix).as_bytes();
        let mut out = Vec::new();
        for item in cursor.iter_from(start) {
            let (k, v) = item.map_err(self.storage.err("scan"))?;
            if !k.starts_with(prefix.as_bytes()) || out.len() >= limit {
                break;
            }
            if Some(k) == start_after.map(StateKey::as_bytes) {
                continue;
            }
            let key = StateKey::from_bytes(k).ok_or(StorageError::Corrupt {
                table: "state",
                source: DecodeError::InvalidValue {
                    what: "state key",
                    reason: "empty or too long",
                },
            })?;
            out.push((key, v.to_vec()));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
