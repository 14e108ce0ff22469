//! Banking's typed events, and their generic form ([`Event`]: a type and typed attributes; the
//! address attributes are the addresses an event concerns).

use super::calls::{AssetId, Renounce};
use super::state::AssetInfo;
use super::Banking;
use crate::modules::Module;
use crate::types::{Address, AssetAmount, AttrValue, Event};

/// Banking's typed events; stored as generic [`Event`]s.
pub(super) enum BankingEvent<'a> {
    AssetCreated {
        asset: &'a AssetId,
        info: &'a AssetInfo,
    },
    Minted {
        asset: &'a AssetId,
        to: &'a Address,
        amount: AssetAmount,
    },
    Burned {
        asset: &'a AssetId,
        from: &'a Address,
        amount: AssetAmount,
    },
    /// `asset` `None`: the native asset (a multi-send's native output).
    Transfer {
        asset: Option<&'a AssetId>,
        from: &'a Address,
        to: &'a Address,
        amount: AssetAmount,
    },
    Frozen {
        asset: &'a AssetId,
        holder: &'a Address,
        frozen: bool,
    },
    GlobalFrozen {
        asset: &'a AssetId,
        frozen: bool,
    },
    Clawback {
        asset: &'a AssetId,
        from: &'a Address,
        amount: AssetAmount,
    },
    Authorized {
        asset: &'a AssetId,
        holder: &'a Address,
        authorized: bool,
    },
    IssuerChanged {
        asset: &'a AssetId,
        from: &'a Address,
        to: &'a Address,
    },
    MetadataUpdated {
        asset: &'a AssetId,
    },
    Renounced {
        asset: &'a AssetId,
        what: Renounce,
    },
}

impl BankingEvent<'_> {
    pub(super) fn into_event(self) -> Event {
        use AttrValue::{Address as A, Amount, Id};
        let attr = |k: &str, v: AttrValue| (k.to_string(), v);
        let (kind, attributes): (&str, Vec<(String, AttrValue)>) = match self {
            BankingEvent::AssetCreated { asset, info } => (
                "asset_created",
                vec![
                    attr("asset", Id(*asset)),
                    attr("symbol", AttrValue::Text(info.symbol.clone())),
                    attr("issuer", A(info.issuer)),
                    attr("decimals", Amount(u128::from(info.decimals))),
                ],
            ),
            BankingEvent::Minted { asset, to, amount } => (
                "minted",
                vec![
                    attr("asset", Id(*asset)),
                    attr("to", A(*to)),
                    attr("amount", Amount(amount)),
                ],
            ),
            BankingEvent::Burned {
                asset,
                from,
                amount,
            } => (
                "burned",
                vec![
                    attr("asset", Id(*asset)),
                    attr("from", A(*from)),
                    attr("amount", Amount(amount)),
                ],
            ),
            BankingEvent::Transfer {
                asset,
                from,
                to,
                amount,
            } => (
                "transfer",
                vec![
                    attr(
                        "asset",
                        asset.map_or_else(|| AttrValue::Text("native".into()), |a| Id(*a)),
                    ),
                    attr("from", A(*from)),
                    attr("to", A(*to)),
                    attr("amount", Amount(amount)),
                ],
            ),
            BankingEvent::Frozen {
                asset,
                holder,
                frozen,
            } => (
                if frozen { "frozen" } else { "unfrozen" },
                vec![attr("asset", Id(*asset)), attr("holder", A(*holder))],
            ),
            BankingEvent::GlobalFrozen { asset, frozen } => (
                if frozen {
                    "global_frozen"
                } else {
                    "global_unfrozen"
                },
                vec![attr("asset", Id(*asset))],
            ),
            BankingEvent::Clawback {
                asset,
                from,
                amount,
            } => (
                "clawback",
                vec![
                    attr("asset", Id(*asset)),
                    attr("from", A(*from)),
                    attr("amount", Amount(amount)),
                ],
            ),
            BankingEvent::Authorized {
                asset,
                holder,
                authorized,
            } => (
                if authorized { "authorized" } else { "revoked" },
                vec![attr("asset", Id(*asset)), attr("holder", A(*holder))],
            ),
            BankingEvent::IssuerChanged { asset, from, to } => (
                "issuer_changed",
                vec![
                    attr("asset", Id(*asset)),
                    attr("from", A(*from)),
                    attr("to", A(*to)),
                ],
            ),
            BankingEvent::MetadataUpdated { asset } => {
                ("metadata_updated", vec![attr("asset", Id(*asset))])
            }
            BankingEvent::Renounced { asset, what } => (
                "policy_renounced",
                vec![
                    attr("asset", Id(*asset)),
                    attr(
                        "what",
                        AttrValue::Text(
                            match what {
                                Renounce::Freeze => "freeze",
                                Renounce::Mint => "mint",
                                Renounce::Changes => "changes",
                            }
                            .into(),
                        ),
                    ),
                ],
            ),
        };
        Event {
            module: Banking::TAG,
            kind: kind.to_string(),
            attributes,
        }
    }
}

/// The `transfer` event of a transfer call (native when `asset` is `None`). Transfer calls store no
/// event (the transaction is its own record, and the hot paths write nothing more per transfer):
/// the API adds this one where events are shown.
pub(super) fn transfer_event(
    asset: Option<&AssetId>,
    from: &Address,
    to: &Address,
    amount: AssetAmount,
) -> Event {
    BankingEvent::Transfer {
        asset,
        from,
        to,
        amount,
    }
    .into_event()
}
