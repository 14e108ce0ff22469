//! A chain in memory for module tests: funded accounts, registered validators, and blocks run
//! through both executors, checked equal, with the commitment checked against the state from
//! scratch and every asset's supply against its holdings.

use std::collections::BTreeMap;

use ed25519_dalek::SigningKey;

use crate::codec::{decode_exact, Encode};
use crate::execution::{
    execute_block, execute_block_parallel, BlockEnv, BlockOutput, ChainParams, MemState,
    StakingParams, TxError,
};
use crate::modules::banking::{AssetId, AssetInfo, Holding};
use crate::modules::compliance::ComplianceParams;
use crate::modules::identity::IdentityParams;
use crate::modules::staking;
use crate::state::LtHash;
use crate::types::{Account, Address, AssetAmount, Payload, Transaction, TxEnvelope};

pub(crate) const CHAIN: u64 = 9;

pub(crate) fn key(i: u8) -> SigningKey {
    SigningKey::from_bytes(&[i.wrapping_add(40); 32])
}

pub(crate) fn addr(i: u8) -> Address {
    Address(key(i).verifying_key().to_bytes())
}

pub(crate) fn params() -> ChainParams {
    ChainParams {
        genesis_hash: [0; 32],
        chain_id: CHAIN,
        min_fee: 1,
        staking: StakingParams {
            epoch_blocks: 4,
            active_set_max: 3,
            unbonding_blocks: 2,
            block_reward: 0,
            slash_bps: 0,
            min_self_stake: 10,
        },
        banking: Default::default(),
        identity: IdentityParams {
            authority: Some(addr(7)),
            ..Default::default()
        },
        compliance: ComplianceParams {
            authority: Some(addr(7)),
        },
        payments: Default::default(),
        dex: Default::default(),
    }
}

/// Accounts 0..8 funded; validators 8..11 registered.
pub(crate) fn chain() -> MemState {
    let mut st = MemState::default();
    for i in 0..8 {
        st.accounts.insert(
            addr(i),
            Account {
                balance: 1_000_000,
                nonce: 0,
            },
        );
    }
    let validators: Vec<_> = (8..11).map(|i| (addr(i), 100, 0)).collect();
    for (k, v) in staking::genesis_entries(&validators, &params().staking) {
        st.state.insert(staking::state_key(&k), v.to_bytes());
    }
    st
}

pub(crate) struct Chain {
    pub params: ChainParams,
    pub st: MemState,
    pub lthash: LtHash,
    pub height: u64,
    pub nonces: BTreeMap<u8, u64>,
}

impl Chain {
    pub(crate) fn new() -> Self {
        let st = chain();
        let lthash = st.lthash();
        Chain {
            params: params(),
            st,
            lthash,
            height: 0,
            nonces: BTreeMap::new(),
        }
    }

    /// A signed call from account `from` with its next nonce.
    pub(crate) fn tx(&mut self, from: u8, call: impl Into<Payload>) -> TxEnvelope {
        let n = self.nonces.entry(from).or_default();
        let tx = Transaction::sign(&key(from), CHAIN, *n, 1, call.into());
        *n += 1;
        tx
    }

    /// Runs a block through both executors, checks they agree and that the commitment matches
    /// the state from scratch, and commits it.
    pub(crate) fn block(&mut self, txs: Vec<TxEnvelope>) -> BlockOutput {
        self.height += 1;
        let env = BlockEnv {
            height: self.height,
            proposer: addr(9),
            time_ms: self.height * 1_000,
        };
        let seq = execute_block(&self.st, &self.lthash, &self.params, &env, txs.clone())
            .expect("infallible");
        let par = execute_block_parallel(&self.st, &self.lthash, &self.params, &env, txs)
            .expect("infallible");
        assert_eq!(par.applied, seq.applied);
        assert_eq!(par.receipts, seq.receipts);
        assert_eq!(par.discarded, seq.discarded);
        assert_eq!(par.writes, seq.writes);
        assert_eq!(par.state_writes, seq.state_writes);
        assert_eq!(par.lthash.root(), seq.lthash.root());
        assert_eq!(par.block_events, seq.block_events);
        self.st.apply(&seq);
        self.lthash = seq.lthash.clone();
        assert_eq!(self.lthash.root(), self.st.lthash().root());
        // A discarded transaction did not use its nonce: take it back for the next one.
        self.resync_nonces();
        check_supply(&self.st);
        seq
    }

    pub(crate) fn resync_nonces(&mut self) {
        for (i, n) in self.nonces.iter_mut() {
            *n = self.st.accounts.get(&addr(*i)).map_or(0, |a| a.nonce);
        }
    }

    /// One call in a block of its own: its refusal, if any.
    pub(crate) fn run(
        &mut self,
        from: u8,
        call: impl Into<Payload>,
    ) -> Result<BlockOutput, TxError> {
        let tx = self.tx(from, call);
        let out = self.block(vec![tx]);
        match out.discarded.first() {
            Some((_, e)) => Err(e.clone()),
            None => Ok(out),
        }
    }

    pub(crate) fn asset(&self, id: &AssetId) -> AssetInfo {
        let b = &self.st.state[&crate::modules::banking::state::asset_key(id)];
        decode_exact(b, usize::MAX).expect("asset")
    }

    pub(crate) fn held(&self, id: &AssetId, who: u8) -> AssetAmount {
        self.st
            .state
            .get(&crate::modules::banking::state::holding_key(id, &addr(who)))
            .map_or(0, |b| {
                decode_exact::<Holding>(b, usize::MAX)
                    .expect("holding")
                    .amount
            })
    }
}

/// Every asset's holdings add up to its supply, which is within its maximum.
pub(crate) fn check_supply(st: &MemState) {
    let mut sums: BTreeMap<Vec<u8>, AssetAmount> = BTreeMap::new();
    let mut supplies = BTreeMap::new();
    for (k, v) in &st.state {
        if k.module() != 1 {
            continue;
        }
        let s = k.suffix();
        match s[0] {
            1 => {
                let a: AssetInfo = decode_exact(v, usize::MAX).expect("asset");
                assert!(a.max_supply.map_or(true, |m| a.supply <= m));
                supplies.insert(s[1..33].to_vec(), a.supply);
            }
            2 => {
                // Holder first, then the asset.
                let h: Holding = decode_exact(v, usize::MAX).expect("holding");
                *sums.entry(s[33..65].to_vec()).or_default() += h.amount;
            }
            _ => {}
        }
    }
    for (id, supply) in &supplies {
        assert_eq!(
            sums.get(id).copied().unwrap_or(0),
            *supply,
            "supply of {}",
            hex::encode(id)
        );
    }
    assert!(sums.keys().all(|k| supplies.contains_key(k)));
}
