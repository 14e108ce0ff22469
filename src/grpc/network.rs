//! `mamey.network.v1.NetworkService`: the node's identity, listen addresses, p2p peers and sync
//! state, and the validator set and delegations. Each method calls the same [`Api`] function as
//! its JSON-RPC twin where there is one (`mamey_getValidators`, `mamey_getStake`) and maps the
//! view to its message; the node and peer views come from [`crate::api::network`].

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::status_of;
use crate::api::Api;
use crate::p2p::LinkInfo;

/// Generated code for `mamey.network.v1`.
#[allow(clippy::all, missing_docs, unreachable_pub)]
pub mod network_proto {
    tonic::include_proto!("mamey.network.v1");
}

use network_proto::network_service_server::NetworkService;

pub use network_proto::network_service_server::NetworkServiceServer;

/// A duration as whole units, saturating (no node runs for 2^64 microseconds).
fn saturating_u64(n: u128) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

fn link_of(l: &LinkInfo) -> network_proto::Link {
    network_proto::Link {
        remote_address: l.remote.to_string(),
        rtt_us: saturating_u64(l.rtt.as_micros()),
        connected_since_ms: l.since_ms,
    }
}

pub struct Network {
    pub api: Arc<Api>,
}

#[tonic::async_trait]
impl NetworkService for Network {
    async fn get_node_info(
        &self,
        _req: Request<network_proto::GetNodeInfoRequest>,
    ) -> Result<Response<network_proto::NodeInfo>, Status> {
        let n = self.api.node_info().map_err(|e| status_of(&e))?;
        Ok(Response::new(network_proto::NodeInfo {
            chain_id: n.chain_id,
            genesis_hash: n.genesis_hash.0.to_vec(),
            version: n.version,
            validator_address: n.validator.to_string(),
            follower: n.follower,
            active_validator: n.active,
            sigverify_backend: n.sigverify_backend,
            listen_addresses: n
                .listen
                .into_iter()
                .map(|l| network_proto::ListenAddress {
                    kind: l.kind.to_string(),
                    address: l.address,
                })
                .collect(),
            head_height: n.head.height,
            head_hash: n.head.hash.0.to_vec(),
            head_timestamp_ms: n.head.timestamp_ms,
            finalized_height: n.finalized_height,
        }))
    }

    async fn get_peers(
        &self,
        _req: Request<network_proto::GetPeersRequest>,
    ) -> Result<Response<network_proto::GetPeersResponse>, Status> {
        let v = self.api.peers();
        Ok(Response::new(network_proto::GetPeersResponse {
            p2p_enabled: v.listen.is_some(),
            listen_address: v.listen.map(|a| a.to_string()).unwrap_or_default(),
            peers: v
                .peers
                .iter()
                .map(|p| network_proto::Peer {
                    address: p.address.to_string(),
                    dial_address: p.dial.map(|a| a.to_string()).unwrap_or_default(),
                    connected: p.connected(),
                    outbound: p.outbound.as_ref().map(link_of),
                    inbound: p.inbound.as_ref().map(link_of),
                    banned: p.banned,
                })
                .collect(),
        }))
    }

    async fn get_sync_status(
        &self,
        _req: Request<network_proto::GetSyncStatusRequest>,
    ) -> Result<Response<network_proto::SyncStatus>, Status> {
        let s = self.api.sync_status();
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        Ok(Response::new(network_proto::SyncStatus {
            head_height: s.head.height,
            head_hash: s.head.hash.0.to_vec(),
            head_timestamp_ms: s.head.timestamp_ms,
            head_age_ms: saturating_u64(s.head_age.as_millis()),
            head_moved_ms_ago: saturating_u64(s.head_moved_ago.as_millis()),
            finalized_height: s.finalized_height,
            catching_up: s.catching_up,
            peers_connected: count(s.peers_connected),
            peers_known: count(s.peers_known),
        }))
    }

    async fn get_validators(
        &self,
        _req: Request<network_proto::GetValidatorsRequest>,
    ) -> Result<Response<network_proto::GetValidatorsResponse>, Status> {
        validators_answer(&self.api).map(Response::new)
    }

    async fn get_stake(
        &self,
        req: Request<network_proto::GetStakeRequest>,
    ) -> Result<Response<network_proto::GetStakeResponse>, Status> {
        stake_answer(&self.api, &req.into_inner().delegator).map(Response::new)
    }
}

super::modules::staking_answers!(network_proto);
