//! The modules' gRPC services (`mamey.banking.v1.BankingService`, `mamey.staking.v1.StakingService`)
//! and the conversions of module events to `mamey.v1.Event`. Each method calls the same
//! [`Api`] function as its JSON-RPC twin and maps the view to its message.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::{
    invalid_argument, non_empty as cursor, page_limit as limit, parse_address as address, proto,
    status_of,
};
use crate::api::views::EventView;
use crate::api::Api;
use crate::modules::banking::query::{AssetView, HoldingView};
use crate::types::{Address, Event, Hash};

/// Generated code for `mamey.banking.v1`.
#[allow(clippy::all, missing_docs, unreachable_pub)]
pub mod banking_proto {
    tonic::include_proto!("mamey.banking.v1");
}

/// Generated code for `mamey.staking.v1`.
#[allow(clippy::all, missing_docs, unreachable_pub)]
pub mod staking_proto {
    tonic::include_proto!("mamey.staking.v1");
}

use banking_proto::banking_service_server::BankingService;
use staking_proto::staking_service_server::StakingService;

pub use banking_proto::banking_service_server::BankingServiceServer;
pub use staking_proto::staking_service_server::StakingServiceServer;

/// A module event as a `mamey.v1.Event`.
pub(super) fn event_of(e: &Event) -> proto::Event {
    proto::Event {
        module: crate::modules::module_name(e.module)
            .unwrap_or("unknown")
            .to_string(),
        r#type: e.kind.clone(),
        attributes: e
            .attributes
            .iter()
            .map(|(k, v)| proto::Attribute {
                key: k.clone(),
                value: v.to_string(),
            })
            .collect(),
        addresses: e.addresses().map(Address::to_string).collect(),
    }
}

/// An event's JSON view as a `mamey.v1.Event`. Its addresses are the attributes that are
/// addresses (the view writes address attributes as Bech32m, which nothing else parses as).
pub(super) fn event_of_view(v: &EventView) -> proto::Event {
    let text = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string();
    proto::Event {
        module: text("module"),
        r#type: text("type"),
        attributes: v
            .iter()
            .filter(|(k, _)| *k != "module" && *k != "type")
            .map(|(k, x)| proto::Attribute {
                key: k.clone(),
                value: x.as_str().unwrap_or_default().to_string(),
            })
            .collect(),
        addresses: v
            .iter()
            .filter(|(k, _)| *k != "module" && *k != "type")
            .filter_map(|(_, x)| x.as_str()?.parse::<Address>().ok())
            .map(|a| a.to_string())
            .collect(),
    }
}

fn asset_id(s: &str) -> Result<Hash, Status> {
    s.parse()
        .map_err(|e| invalid_argument(format!("asset id {s:?}: {e}")))
}

fn asset_of(a: AssetView) -> banking_proto::Asset {
    banking_proto::Asset {
        id: a.id,
        symbol: a.symbol,
        name: a.name,
        decimals: u32::from(a.decimals),
        issuer: a.issuer.to_string(),
        supply: a.supply,
        max_supply: a.max_supply.unwrap_or_default(),
        mintable: a.mintable,
        holder_burnable: a.holder_burnable,
        freezable: a.freezable,
        clawback: a.clawback,
        auth_required: a.auth_required,
        global_frozen: a.global_frozen,
        locked: a.locked,
        metadata_uri: a.metadata_uri,
        created_height: a.created_height,
    }
}

fn holding_of(h: HoldingView) -> banking_proto::Holding {
    banking_proto::Holding {
        asset: h.asset,
        symbol: h.symbol,
        holder: h.holder.to_string(),
        amount: h.amount,
        frozen: h.frozen,
        authorized: h.authorized,
    }
}

pub struct Banking {
    pub api: Arc<Api>,
}

#[tonic::async_trait]
impl BankingService for Banking {
    async fn get_asset(
        &self,
        req: Request<banking_proto::GetAssetRequest>,
    ) -> Result<Response<banking_proto::Asset>, Status> {
        let id = asset_id(&req.into_inner().id)?;
        let a = self.api.asset(&id).map_err(|e| status_of(&e))?;
        Ok(Response::new(asset_of(a)))
    }

    async fn list_assets(
        &self,
        req: Request<banking_proto::ListAssetsRequest>,
    ) -> Result<Response<banking_proto::ListAssetsResponse>, Status> {
        let r = req.into_inner();
        let page = self
            .api
            .assets(cursor(&r.cursor), limit(r.limit))
            .map_err(|e| status_of(&e))?;
        Ok(Response::new(banking_proto::ListAssetsResponse {
            assets: page.items.into_iter().map(asset_of).collect(),
            next_cursor: page.next_cursor.unwrap_or_default(),
        }))
    }

    async fn get_balances(
        &self,
        req: Request<banking_proto::GetBalancesRequest>,
    ) -> Result<Response<banking_proto::GetBalancesResponse>, Status> {
        let a = address(&req.into_inner().address, "address")?;
        let balances = self.api.balances(&a).map_err(|e| status_of(&e))?;
        Ok(Response::new(banking_proto::GetBalancesResponse {
            address: a.to_string(),
            balances: balances.into_iter().map(holding_of).collect(),
        }))
    }

    async fn get_holders(
        &self,
        req: Request<banking_proto::GetHoldersRequest>,
    ) -> Result<Response<banking_proto::GetHoldersResponse>, Status> {
        let r = req.into_inner();
        let id = asset_id(&r.id)?;
        let page = self
            .api
            .holders(&id, cursor(&r.cursor), limit(r.limit))
            .map_err(|e| status_of(&e))?;
        Ok(Response::new(banking_proto::GetHoldersResponse {
            holders: page.items.into_iter().map(holding_of).collect(),
            next_cursor: page.next_cursor.unwrap_or_default(),
        }))
    }
}

pub struct Staking {
    pub api: Arc<Api>,
}

#[tonic::async_trait]
impl StakingService for Staking {
    async fn get_validators(
        &self,
        _req: Request<staking_proto::GetValidatorsRequest>,
    ) -> Result<Response<staking_proto::GetValidatorsResponse>, Status> {
        validators_answer(&self.api).map(Response::new)
    }

    async fn get_stake(
        &self,
        req: Request<staking_proto::GetStakeRequest>,
    ) -> Result<Response<staking_proto::GetStakeResponse>, Status> {
        stake_answer(&self.api, &req.into_inner().delegator).map(Response::new)
    }
}

/// The answers of `GetValidators` and `GetStake` in a proto package's own types:
/// `StakingService` and `NetworkService` answer the same, each in its package (prost gives every
/// package its own message types, and ours do not import each other).
macro_rules! staking_answers {
    ($proto:ident) => {
        fn validators_answer(
            api: &crate::api::Api,
        ) -> Result<$proto::GetValidatorsResponse, tonic::Status> {
            let v = api.validators().map_err(|e| crate::grpc::status_of(&e))?;
            Ok($proto::GetValidatorsResponse {
                height: v.height,
                epoch_blocks: v.epoch_blocks,
                active_set_max: v.active_set_max,
                total_power: v.total_power,
                validators: v
                    .validators
                    .into_iter()
                    .map(|v| $proto::Validator {
                        address: v.address.to_string(),
                        tokens: v.tokens,
                        commission_bps: u32::from(v.commission_bps),
                        jailed: v.jailed,
                        power: v.power,
                        missed_proposals: v.missed_proposals,
                        proposed: v.proposed,
                        proposer_skipped_until: v.proposer_skipped_until,
                        signed_votes: v.signed_votes,
                        missed_votes: v.missed_votes,
                    })
                    .collect(),
            })
        }

        fn stake_answer(
            api: &crate::api::Api,
            delegator: &str,
        ) -> Result<$proto::GetStakeResponse, tonic::Status> {
            let d = crate::grpc::parse_address(delegator, "delegator")?;
            let s = api.stake(d).map_err(|e| crate::grpc::status_of(&e))?;
            Ok($proto::GetStakeResponse {
                delegator: s.delegator.to_string(),
                height: s.height,
                delegations: s
                    .delegations
                    .into_iter()
                    .map(|d| $proto::Delegation {
                        validator: d.validator.to_string(),
                        shares: d.shares,
                        tokens: d.tokens,
                    })
                    .collect(),
            })
        }
    };
}
pub(super) use staking_answers;

staking_answers!(staking_proto);

/// `NodeService.GetAccountTransactions`.
pub(super) fn account_transactions(
    api: &Api,
    r: proto::GetAccountTransactionsRequest,
) -> Result<proto::GetAccountTransactionsResponse, Status> {
    let a = address(&r.address, "address")?;
    let h = api
        .account_transactions(&a, cursor(&r.cursor), limit(r.limit))
        .map_err(|e| status_of(&e))?;
    Ok(proto::GetAccountTransactionsResponse {
        transactions: h
            .transactions
            .into_iter()
            .map(|t| proto::AccountTransaction {
                id: t.id.0.to_vec(),
                height: t.height,
                index: t.index,
                status: super::tx_status(t.status) as i32,
                sender: t.sender.to_string(),
                module: t.module,
                fee_paid: t.fee_paid,
                events: t.events.iter().map(event_of_view).collect(),
            })
            .collect(),
        next_cursor: h.next_cursor.unwrap_or_default(),
    })
}
