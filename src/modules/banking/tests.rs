//! Issued assets: the walkthrough a bank would do, every refusal with its code, and property tests
//! of supply conservation and of parallel = sequential over random mixes of every module's calls.

use std::collections::BTreeMap;

use ed25519_dalek::SigningKey;
use proptest::prelude::*;

use super::calls::{asset_id, AssetId, BankCall, Output, Policy, Renounce};
use super::query;
use super::state::{AssetInfo, Holding};
use crate::codec::{decode_exact, Encode};
use crate::execution::{
    execute_block, execute_block_parallel, BlockEnv, BlockOutput, ChainParams, MemState,
    StakingParams, TxError,
};
use crate::modules::staking::{self, StakingCall};
use crate::state::LtHash;
use crate::types::{Account, Address, AssetAmount, Payload, Transaction, TxEnvelope};

const CHAIN: u64 = 9;

fn key(i: u8) -> SigningKey {
    SigningKey::from_bytes(&[i.wrapping_add(40); 32])
}

fn addr(i: u8) -> Address {
    Address(key(i).verifying_key().to_bytes())
}

fn params() -> ChainParams {
    ChainParams {
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
    }
}

/// Accounts 0..8 funded; validators 8..11 registered.
fn chain() -> MemState {
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

struct Chain {
    st: MemState,
    lthash: LtHash,
    height: u64,
    nonces: BTreeMap<u8, u64>,
}

impl Chain {
    fn new() -> Self {
        let st = chain();
        let lthash = st.lthash();
        Chain {
            st,
            lthash,
            height: 0,
            nonces: BTreeMap::new(),
        }
    }

    /// A signed call from account `from` with its next nonce.
    fn tx(&mut self, from: u8, call: BankCall) -> TxEnvelope {
        let n = self.nonces.entry(from).or_default();
        let tx = Transaction::sign(&key(from), CHAIN, *n, 1, Payload::Bank(call));
        *n += 1;
        tx
    }

    /// Runs a block through both executors, checks they agree and that the commitment matches
    /// the state from scratch, and commits it.
    fn block(&mut self, txs: Vec<TxEnvelope>) -> BlockOutput {
        self.height += 1;
        let env = BlockEnv {
            height: self.height,
            proposer: addr(9),
        };
        let seq = execute_block(&self.st, &self.lthash, &params(), &env, txs.clone())
            .expect("infallible");
        let par = execute_block_parallel(&self.st, &self.lthash, &params(), &env, txs)
            .expect("infallible");
        assert_eq!(par.applied, seq.applied);
        assert_eq!(par.receipts, seq.receipts);
        assert_eq!(par.discarded, seq.discarded);
        assert_eq!(par.writes, seq.writes);
        assert_eq!(par.state_writes, seq.state_writes);
        assert_eq!(par.lthash.root(), seq.lthash.root());
        self.st.apply(&seq);
        self.lthash = seq.lthash.clone();
        assert_eq!(self.lthash.root(), self.st.lthash().root());
        // A discarded transaction did not use its nonce: take it back for the next one.
        self.resync_nonces();
        check_supply(&self.st);
        seq
    }

    fn resync_nonces(&mut self) {
        for (i, n) in self.nonces.iter_mut() {
            *n = self.st.accounts.get(&addr(*i)).map_or(0, |a| a.nonce);
        }
    }

    /// One call in a block of its own: its refusal, if any.
    fn run(&mut self, from: u8, call: BankCall) -> Result<BlockOutput, TxError> {
        let tx = self.tx(from, call);
        let out = self.block(vec![tx]);
        match out.discarded.first() {
            Some((_, e)) => Err(e.clone()),
            None => Ok(out),
        }
    }

    fn asset(&self, id: &AssetId) -> AssetInfo {
        let b = &self.st.state[&super::state::asset_key(id)];
        decode_exact(b, usize::MAX).expect("asset")
    }

    fn held(&self, id: &AssetId, who: u8) -> AssetAmount {
        self.st
            .state
            .get(&super::state::holding_key(id, &addr(who)))
            .map_or(0, |b| {
                decode_exact::<Holding>(b, usize::MAX)
                    .expect("holding")
                    .amount
            })
    }
}

/// Every asset's holdings add up to its supply, which is within its maximum.
fn check_supply(st: &MemState) {
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

fn create(symbol: &str, policy: Policy, max: Option<AssetAmount>) -> BankCall {
    BankCall::CreateAsset {
        symbol: symbol.into(),
        name: format!("{symbol} token"),
        decimals: 18,
        max_supply: max,
        initial_supply: 0,
        policy,
        metadata_uri: String::new(),
    }
}

fn full_policy() -> Policy {
    Policy {
        mintable: true,
        holder_burnable: true,
        freezable: true,
        clawback: true,
        auth_required: false,
    }
}

fn code(e: &TxError) -> u32 {
    match e {
        TxError::Module(m) => m.code,
        other => panic!("not a module refusal: {other:?}"),
    }
}

#[test]
fn issue_move_freeze_claw_back_and_multi_send() {
    let mut c = Chain::new();
    let usd = asset_id(&addr(0), "USD");
    let out = c
        .run(0, create("USD", full_policy(), None))
        .expect("created");
    assert_eq!(out.receipts[0].events[0].kind, "asset_created");
    // 10^12 whole units at 18 decimals: wider than u64, exact.
    let big: AssetAmount = 1_000_000_000_000 * 10u128.pow(18);
    c.run(
        0,
        BankCall::Mint {
            asset: usd,
            to: addr(1),
            amount: big,
        },
    )
    .expect("minted");
    assert_eq!(c.asset(&usd).supply, big);
    let out = c
        .run(
            1,
            BankCall::TransferAsset {
                asset: usd,
                to: addr(2),
                amount: 500,
            },
        )
        .expect("moved");
    // A transfer stores no event: its `transfer` is implied by the transaction.
    assert!(out.receipts[0].events.is_empty());
    let implied = super::implied_events(&out.applied[0].tx);
    assert_eq!(implied.len(), 1);
    assert_eq!(implied[0].kind, "transfer");
    assert!(implied[0].concerns(&addr(1)) && implied[0].concerns(&addr(2)));
    assert_eq!(out.applied[0].tx.payload.counterparty(), Some(&addr(2)));
    assert_eq!(c.held(&usd, 2), 500);
    // Freeze holder 2: it cannot send to 3, but it can send back to the issuer.
    c.run(
        0,
        BankCall::SetFrozen {
            asset: usd,
            holder: addr(2),
            frozen: true,
        },
    )
    .expect("frozen");
    let e = c
        .run(
            2,
            BankCall::TransferAsset {
                asset: usd,
                to: addr(3),
                amount: 1,
            },
        )
        .expect_err("frozen");
    assert_eq!(code(&e), 10108);
    assert!(e.to_string().contains("USD"), "{e}");
    c.run(
        2,
        BankCall::TransferAsset {
            asset: usd,
            to: addr(0),
            amount: 100,
        },
    )
    .expect("back to the issuer");
    // Nobody but a frozen holder's issuer sends it anything.
    let e = c
        .run(
            1,
            BankCall::TransferAsset {
                asset: usd,
                to: addr(2),
                amount: 1,
            },
        )
        .expect_err("frozen recipient");
    assert_eq!(code(&e), 10108);
    // Clawback burns.
    let before = c.asset(&usd).supply;
    c.run(
        0,
        BankCall::Clawback {
            asset: usd,
            from: addr(2),
            amount: 400,
        },
    )
    .expect("clawed");
    assert_eq!(c.held(&usd, 2), 0);
    assert_eq!(c.asset(&usd).supply, before - 400);
    // Multi-send in two assets and the native one, all or nothing.
    let eur = asset_id(&addr(1), "EUR");
    c.run(1, create("EUR", Policy::default(), Some(1_000)))
        .expect("created");
    let out = c.run(
        1,
        BankCall::MultiSend {
            outputs: vec![
                Output {
                    asset: Some(usd),
                    to: addr(4),
                    amount: 7,
                },
                Output {
                    asset: None,
                    to: addr(5),
                    amount: 9,
                },
                Output {
                    asset: Some(usd),
                    to: addr(6),
                    amount: 8,
                },
            ],
        },
    );
    assert!(out.is_ok());
    assert_eq!(c.held(&usd, 4), 7);
    assert_eq!(c.st.accounts[&addr(5)].balance, 1_000_009);
    // A failing later output undoes the earlier ones, native included.
    let bal5 = c.st.accounts[&addr(5)].balance;
    let e = c
        .run(
            1,
            BankCall::MultiSend {
                outputs: vec![
                    Output {
                        asset: None,
                        to: addr(5),
                        amount: 9,
                    },
                    Output {
                        asset: Some(usd),
                        to: addr(4),
                        amount: 1,
                    },
                    Output {
                        asset: Some(eur),
                        to: addr(4),
                        amount: 1,
                    },
                ],
            },
        )
        .expect_err("EUR not held");
    assert_eq!(code(&e), 10115);
    assert_eq!(c.st.accounts[&addr(5)].balance, bal5);
    assert_eq!(c.held(&usd, 4), 7);
    // Queries see it all.
    let balances = query::balances(&c.st, &addr(4)).expect("infallible");
    assert_eq!(balances.len(), 1);
    assert_eq!(balances[0].amount, "7");
    let holders = query::holders(&c.st, &usd, None, 2).expect("infallible");
    assert_eq!(holders.items.len(), 2);
    let rest =
        query::holders(&c.st, &usd, Some(&holders.items[1].holder), 100).expect("infallible");
    assert!(rest.next_cursor.is_none());
    let all = query::assets(&c.st, None, 1).expect("infallible");
    assert_eq!(all.items.len(), 1);
    let second =
        query::assets(&c.st, Some(&all.items[0].id.parse().expect("hex")), 10).expect("infallible");
    assert_eq!(second.items.len(), 1);
    assert_ne!(all.items[0].id, second.items[0].id);
}

#[test]
fn every_refusal_has_its_code_and_changes_nothing() {
    let mut c = Chain::new();
    let usd = asset_id(&addr(0), "USD");
    let plain = asset_id(&addr(0), "PLAIN");
    let ghost = asset_id(&addr(0), "GHOST");
    c.run(0, create("USD", full_policy(), Some(1_000)))
        .expect("created");
    c.run(
        0,
        create(
            "PLAIN",
            Policy {
                mintable: true,
                ..Policy::default()
            },
            None,
        ),
    )
    .expect("created");
    c.run(
        0,
        BankCall::Mint {
            asset: plain,
            to: addr(1),
            amount: 50,
        },
    )
    .expect("minted");
    let auth = asset_id(&addr(0), "KYC");
    c.run(
        0,
        create(
            "KYC",
            Policy {
                mintable: true,
                auth_required: true,
                ..Policy::default()
            },
            None,
        ),
    )
    .expect("created");
    let cases: Vec<(u8, BankCall, u32)> = vec![
        (
            1,
            BankCall::TransferAsset {
                asset: ghost,
                to: addr(2),
                amount: 1,
            },
            10100,
        ),
        (0, create("USD", Policy::default(), None), 10101),
        (
            1,
            BankCall::Mint {
                asset: usd,
                to: addr(1),
                amount: 1,
            },
            10102,
        ),
        (
            0,
            BankCall::CreateAsset {
                symbol: "BAD".into(),
                name: String::new(),
                decimals: 19,
                max_supply: None,
                initial_supply: 0,
                policy: Policy::default(),
                metadata_uri: String::new(),
            },
            10103,
        ),
        (0, create("lower", Policy::default(), None), 10104),
        (
            0,
            BankCall::Mint {
                asset: usd,
                to: addr(1),
                amount: 1_001,
            },
            10106,
        ),
        (
            0,
            BankCall::SetFrozen {
                asset: plain,
                holder: addr(1),
                frozen: true,
            },
            10111,
        ),
        (
            0,
            BankCall::Clawback {
                asset: plain,
                from: addr(1),
                amount: 1,
            },
            10112,
        ),
        (
            0,
            BankCall::Mint {
                asset: auth,
                to: addr(1),
                amount: 1,
            },
            10110,
        ),
        (
            0,
            BankCall::SetAuthorized {
                asset: plain,
                holder: addr(1),
                authorized: true,
            },
            10119,
        ),
        (
            1,
            BankCall::TransferAsset {
                asset: plain,
                to: addr(2),
                amount: 51,
            },
            10115,
        ),
        (
            1,
            BankCall::Burn {
                asset: plain,
                amount: 1,
            },
            10117,
        ),
        (
            0,
            BankCall::MultiSend {
                outputs: (0..33)
                    .map(|i| Output {
                        asset: None,
                        to: addr(i % 8),
                        amount: 1,
                    })
                    .collect(),
            },
            10113,
        ),
        (0, BankCall::MultiSend { outputs: vec![] }, 10120),
        (
            0,
            BankCall::TransferAsset {
                asset: usd,
                to: addr(2),
                amount: 0,
            },
            10116,
        ),
    ];
    for (from, call, want) in cases {
        let before = (c.st.clone(), c.lthash.root());
        let what = format!("{call:?}");
        let e = c.run(from, call).expect_err(&what);
        assert_eq!(code(&e), want, "{what}: {e}");
        assert_eq!(c.st.accounts, before.0.accounts, "{what} moved funds");
        assert_eq!(c.st.state, before.0.state, "{what} wrote state");
        assert_eq!(c.lthash.root(), before.1);
    }
    // Mint past u128 and a supply with no maximum.
    c.run(
        0,
        BankCall::Mint {
            asset: plain,
            to: addr(0),
            amount: u128::MAX - 50,
        },
    )
    .expect("fits");
    let e = c
        .run(
            0,
            BankCall::Mint {
                asset: plain,
                to: addr(0),
                amount: 1,
            },
        )
        .expect_err("overflow");
    assert_eq!(code(&e), 10114);
    // Giving minting up is for good; a frozen asset moves only to and from the issuer.
    c.run(
        0,
        BankCall::Renounce {
            asset: plain,
            what: Renounce::Mint,
        },
    )
    .expect("renounced");
    let e = c
        .run(
            0,
            BankCall::Mint {
                asset: plain,
                to: addr(0),
                amount: 1,
            },
        )
        .expect_err("gone");
    assert_eq!(code(&e), 10107);
    c.run(
        0,
        BankCall::Mint {
            asset: usd,
            to: addr(1),
            amount: 10,
        },
    )
    .expect("minted");
    c.run(
        0,
        BankCall::SetGlobalFrozen {
            asset: usd,
            frozen: true,
        },
    )
    .expect("frozen");
    let e = c
        .run(
            1,
            BankCall::TransferAsset {
                asset: usd,
                to: addr(2),
                amount: 1,
            },
        )
        .expect_err("frozen asset");
    assert_eq!(code(&e), 10109);
    c.run(
        1,
        BankCall::TransferAsset {
            asset: usd,
            to: addr(0),
            amount: 1,
        },
    )
    .expect("to issuer");
    c.run(
        0,
        BankCall::Renounce {
            asset: usd,
            what: Renounce::Changes,
        },
    )
    .expect("locked");
    let e = c
        .run(
            0,
            BankCall::SetIssuer {
                asset: usd,
                issuer: addr(3),
            },
        )
        .expect_err("locked");
    assert_eq!(code(&e), 10118);
    // Authorized holders receive; revoked ones do not.
    c.run(
        0,
        BankCall::SetAuthorized {
            asset: auth,
            holder: addr(1),
            authorized: true,
        },
    )
    .expect("authorized");
    c.run(
        0,
        BankCall::Mint {
            asset: auth,
            to: addr(1),
            amount: 5,
        },
    )
    .expect("minted");
    let mut disabled = params();
    disabled.banking.assets_enabled = false;
    let tx = c.tx(0, create("OFF", Policy::default(), None));
    assert_eq!(
        code(&crate::execution::check_static(&tx.tx, &disabled).expect_err("disabled")),
        10121
    );
}

/// A random call among every module's: native and asset transfers, mints, burns, freezes,
/// clawbacks, multi-sends, authorizations and staking calls, over a few senders and assets.
fn call_strategy() -> impl Strategy<Value = (u8, u8, u8, u8, u64)> {
    (0u8..6, 0u8..14, 0u8..6, 0u8..3, 1u64..400)
}

fn make_call(kind: u8, to: u8, asset: u8, amount: u64) -> Payload {
    // Asset k is issued by account k.
    let id = asset_id(&addr(asset), &format!("A{asset}"));
    let a = AssetAmount::from(amount);
    Payload::Bank(match kind {
        0 => BankCall::Transfer {
            to: addr(to),
            amount,
        },
        1..=3 => BankCall::TransferAsset {
            asset: id,
            to: addr(to),
            amount: a,
        },
        4 => BankCall::Mint {
            asset: id,
            to: addr(to),
            amount: a,
        },
        5 => BankCall::Burn {
            asset: id,
            amount: a,
        },
        6 => BankCall::SetFrozen {
            asset: id,
            holder: addr(to),
            frozen: amount % 2 == 0,
        },
        7 => BankCall::Clawback {
            asset: id,
            from: addr(to),
            amount: a,
        },
        8 => BankCall::MultiSend {
            outputs: vec![
                Output {
                    asset: Some(id),
                    to: addr(to),
                    amount: a,
                },
                Output {
                    asset: None,
                    to: addr((to + 1) % 8),
                    amount: a,
                },
            ],
        },
        9 => BankCall::SetAuthorized {
            asset: id,
            holder: addr(to),
            authorized: true,
        },
        10 => BankCall::SetGlobalFrozen {
            asset: id,
            frozen: amount % 3 == 0,
        },
        11 => create(
            &format!("A{asset}"),
            Policy {
                auth_required: asset == 2,
                ..full_policy()
            },
            Some(5_000),
        ),
        12 => {
            return Payload::Staking(StakingCall::Delegate {
                validator: addr(8 + to % 3),
                amount,
            })
        }
        _ => {
            return Payload::Staking(StakingCall::Undelegate {
                validator: addr(8 + to % 3),
                amount,
            })
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Random mixes of every module's calls: the parallel executor equals the sequential oracle
    /// (both run in `Chain::block`), the commitment equals the one from scratch, and each asset's
    /// holdings add up to its supply after every block.
    #[test]
    fn parallel_equals_sequential_and_supply_is_conserved(
        blocks in proptest::collection::vec(proptest::collection::vec(call_strategy(), 0..30), 1..6),
    ) {
        let mut c = Chain::new();
        // Three assets, issued by accounts 0, 1 and 2, minted to a few holders.
        let mut setup = Vec::new();
        for k in 0..3u8 {
            setup.push(c.tx(k, create(&format!("A{k}"), Policy { auth_required: k == 2, ..full_policy() }, Some(5_000))));
        }
        c.block(setup);
        let mut mints = Vec::new();
        for k in 0..3u8 {
            for h in 0..4u8 {
                if k == 2 {
                    mints.push(c.tx(k, BankCall::SetAuthorized { asset: asset_id(&addr(k), "A2"), holder: addr(h), authorized: true }));
                }
                mints.push(c.tx(k, BankCall::Mint { asset: asset_id(&addr(k), &format!("A{k}")), to: addr(h), amount: 300 }));
            }
        }
        c.block(mints);
        for txs in blocks {
            let block: Vec<TxEnvelope> = txs
                .iter()
                .map(|&(from, kind, to, asset, amount)| {
                    let payload = make_call(kind, to % 8, asset, amount);
                    let n = c.nonces.entry(from).or_default();
                    let tx = Transaction::sign(&key(from), CHAIN, *n, 1, payload);
                    *n += 1;
                    tx
                })
                .collect();
            c.block(block);
        }
    }
}
