//! Writes a seed corpus of valid encodings for every fuzz target into `<dir>/<target>/` (default
//! `corpus`, relative to the current directory). Run from `fuzz/`: `cargo run --example seed_corpus`.

use std::fs;
use std::path::Path;

use ed25519_dalek::SigningKey;
use mameynode::codec::Encode;
use mameynode::modules::banking::{Output, Policy, Renounce};
use mameynode::types::block::tx_root;
use mameynode::types::{
    Account, Address, AttrValue, BankCall, Block, BlockHeader, Event, Hash, Outcome, Payload, Receipt,
    Transaction, TxEnvelope,
};

fn tx(seed: u8, nonce: u64) -> TxEnvelope {
    let key = SigningKey::from_bytes(&[seed; 32]);
    let payload = Payload::Bank(BankCall::Transfer {
        to: Address([seed.wrapping_mul(3); 32]),
        amount: 1_000 * u64::from(seed) + nonce,
    });
    Transaction::sign(&key, 1, nonce, 10, payload)
}

fn block(height: u64, transactions: Vec<TxEnvelope>) -> Block {
    let ids: Vec<Hash> = transactions.iter().map(|t| t.id).collect();
    Block {
        header: BlockHeader {
            chain_id: 1,
            height,
            parent_hash: Hash([height as u8; 32]),
            timestamp_ms: 1_700_000_000_000 + height,
            proposer: Address([9; 32]),
            tx_root: tx_root(&ids),
            state_root: Hash([7; 32]),
            tx_count: u32::try_from(transactions.len()).expect("small"),
        },
        transactions,
    }
}

fn write(dir: &Path, target: &str, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let d = dir.join(target);
    fs::create_dir_all(&d)?;
    fs::write(d.join(name), bytes)
}

fn main() -> std::io::Result<()> {
    let dir = std::env::args().nth(1).unwrap_or_else(|| "corpus".into());
    let dir = Path::new(&dir);

    let txs: Vec<TxEnvelope> = (1..=4).map(|s| tx(s, u64::from(s) * 5)).collect();
    for (i, t) in txs.iter().enumerate() {
        write(dir, "decode_transaction", &format!("tx-{i}"), &t.bytes)?;
    }
    // One of each issued-asset call, so the fuzzer starts inside every banking decoder branch.
    let key = SigningKey::from_bytes(&[5; 32]);
    let asset = Hash([6; 32]);
    let who = Address([8; 32]);
    let calls = [
        BankCall::CreateAsset {
            symbol: "USD".into(),
            name: "US Dollar".into(),
            decimals: 6,
            max_supply: Some(1 << 70),
            initial_supply: 10,
            policy: Policy {
                mintable: true,
                freezable: true,
                clawback: true,
                ..Policy::default()
            },
            metadata_uri: "https://example.org/usd".into(),
        },
        BankCall::Mint { asset, to: who, amount: 1 << 65 },
        BankCall::Burn { asset, amount: 7 },
        BankCall::TransferAsset { asset, to: who, amount: 9 },
        BankCall::MultiSend {
            outputs: vec![
                Output { asset: Some(asset), to: who, amount: 3 },
                Output { asset: None, to: who, amount: 4 },
            ],
        },
        BankCall::SetFrozen { asset, holder: who, frozen: true },
        BankCall::SetGlobalFrozen { asset, frozen: true },
        BankCall::Clawback { asset, from: who, amount: 2 },
        BankCall::SetAuthorized { asset, holder: who, authorized: true },
        BankCall::SetIssuer { asset, issuer: who },
        BankCall::UpdateMetadata { asset, name: "n".into(), metadata_uri: "u".into() },
        BankCall::Renounce { asset, what: Renounce::Changes },
    ];
    for (i, call) in calls.into_iter().enumerate() {
        let t = Transaction::sign(&key, 1, i as u64, 10, Payload::Bank(call));
        write(dir, "decode_transaction", &format!("asset-call-{i}"), &t.bytes)?;
    }

    for (i, n) in [0usize, 1, 2, 3, 4].into_iter().enumerate() {
        let b = block(i as u64, txs[..n].to_vec());
        write(
            dir,
            "decode_block",
            &format!("block-{n}-txs"),
            &b.to_bytes(),
        )?;
    }

    let small = "decode_account_receipt_header";
    let account = Account {
        balance: 1_000_000,
        nonce: 3,
    };
    write(
        dir,
        small,
        "account",
        &[&[0u8][..], &account.to_bytes()].concat(),
    )?;
    let receipt = Receipt {
        tx_id: txs[0].id,
        outcome: Outcome::Success,
        fee_paid: 10,
        events: vec![Event {
            module: 1,
            kind: "transfer".into(),
            attributes: vec![
                ("asset".into(), AttrValue::Id(Hash([6; 32]))),
                ("from".into(), AttrValue::Address(Address([3; 32]))),
                ("amount".into(), AttrValue::Amount(5)),
                ("memo".into(), AttrValue::Text("x".into())),
            ],
        }],
    };
    write(
        dir,
        small,
        "receipt",
        &[&[1u8][..], &receipt.to_bytes()].concat(),
    )?;
    let header = block(5, txs.clone()).header;
    write(
        dir,
        small,
        "header",
        &[&[2u8][..], &header.to_bytes()].concat(),
    )?;

    let texts = [
        Address([0; 32]).to_string(),
        Address([0xff; 32]).to_string(),
        txs[0].tx.sender.to_string(),
        txs[0].id.to_string(),
        Hash::ZERO.to_string(),
    ];
    for (i, s) in texts.iter().enumerate() {
        write(dir, "parse_text", &format!("text-{i}"), s.as_bytes())?;
    }
    println!("seed corpus written under {}", dir.display());
    Ok(())
}
