//! `mamey.identity.v1.IdentityService` and `mamey.compliance.v1.ComplianceService`: each method
//! calls the same [`Api`] function as its JSON-RPC twin and maps the view to its message.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::{
    invalid_argument, non_empty as opt, page_limit as limit, parse_address as address,
    parse_hash as hash, status_of,
};
use crate::api::compliance::ReportRow;
use crate::api::identity::{ClaimView, IssuerView};
use crate::api::Api;

/// Generated code for `mamey.identity.v1`.
#[allow(clippy::all, missing_docs, unreachable_pub)]
pub mod identity_proto {
    tonic::include_proto!("mamey.identity.v1");
}

/// Generated code for `mamey.compliance.v1`.
#[allow(clippy::all, missing_docs, unreachable_pub)]
pub mod compliance_proto {
    tonic::include_proto!("mamey.compliance.v1");
}

use compliance_proto::compliance_service_server::ComplianceService;
use identity_proto::identity_service_server::IdentityService;

pub use compliance_proto::compliance_service_server::ComplianceServiceServer;
pub use identity_proto::identity_service_server::IdentityServiceServer;

fn claim_of(c: ClaimView) -> identity_proto::Claim {
    identity_proto::Claim {
        id: c.id.to_string(),
        issuer: c.issuer.to_string(),
        subject: c.subject,
        r#type: c.claim_type,
        level: u32::from(c.level),
        jurisdiction: c.jurisdiction.unwrap_or_default(),
        expires_ms: c.expires_ms.unwrap_or(0),
        evidence: c.evidence.map(|e| e.to_string()).unwrap_or_default(),
        issued_ms: c.issued_ms,
        issued_height: c.issued_height,
        revoked: c.revoked,
        suspended: c.suspended,
        current: c.current,
        status_index: c.status_index,
        status_list: c.status_list,
        status_list_index: c.status_list_index,
    }
}

fn issuer_of(i: IssuerView) -> identity_proto::Issuer {
    identity_proto::Issuer {
        issuer: i.issuer.to_string(),
        name: i.name,
        types: i.types,
        trusted: i.trusted,
        claims_issued: i.claims_issued,
    }
}

pub struct Identity {
    pub api: Arc<Api>,
}

#[tonic::async_trait]
impl IdentityService for Identity {
    async fn resolve(
        &self,
        req: Request<identity_proto::ResolveRequest>,
    ) -> Result<Response<identity_proto::ResolveResponse>, Status> {
        let r = req.into_inner();
        let res = self
            .api
            .resolve_did(&r.did, opt(&r.version_id), opt(&r.version_time));
        let v = &res.result;
        let text = |x: &serde_json::Value| x.as_str().unwrap_or_default().to_string();
        Ok(Response::new(identity_proto::ResolveResponse {
            error: text(&v["didResolutionMetadata"]["error"]),
            error_message: text(&v["didResolutionMetadata"]["errorMessage"]),
            deactivated: v["didDocumentMetadata"]["deactivated"]
                .as_bool()
                .unwrap_or(false),
            version_id: text(&v["didDocumentMetadata"]["versionId"]),
            did_document_json: if v["didDocument"].is_null() {
                String::new()
            } else {
                v["didDocument"].to_string()
            },
            result_json: v.to_string(),
        }))
    }

    async fn get_claim(
        &self,
        req: Request<identity_proto::GetClaimRequest>,
    ) -> Result<Response<identity_proto::Claim>, Status> {
        let id = hash(&req.into_inner().id, "claim id")?;
        let c = self.api.claim(&id).map_err(|e| status_of(&e))?;
        Ok(Response::new(claim_of(c)))
    }

    async fn get_claims(
        &self,
        req: Request<identity_proto::GetClaimsRequest>,
    ) -> Result<Response<identity_proto::GetClaimsResponse>, Status> {
        let r = req.into_inner();
        let page = self
            .api
            .claims(&r.subject, opt(&r.cursor), limit(r.limit))
            .map_err(|e| status_of(&e))?;
        Ok(Response::new(identity_proto::GetClaimsResponse {
            claims: page.items.into_iter().map(claim_of).collect(),
            next_cursor: page.next_cursor.unwrap_or_default(),
        }))
    }

    async fn get_issuer(
        &self,
        req: Request<identity_proto::GetIssuerRequest>,
    ) -> Result<Response<identity_proto::Issuer>, Status> {
        let a = address(&req.into_inner().issuer, "issuer")?;
        let i = self.api.trusted_issuer(&a).map_err(|e| status_of(&e))?;
        Ok(Response::new(issuer_of(i)))
    }

    async fn list_issuers(
        &self,
        req: Request<identity_proto::ListIssuersRequest>,
    ) -> Result<Response<identity_proto::ListIssuersResponse>, Status> {
        let r = req.into_inner();
        let page = self
            .api
            .trusted_issuers(opt(&r.cursor), limit(r.limit))
            .map_err(|e| status_of(&e))?;
        Ok(Response::new(identity_proto::ListIssuersResponse {
            issuers: page.items.into_iter().map(issuer_of).collect(),
            next_cursor: page.next_cursor.unwrap_or_default(),
        }))
    }
}

pub struct Compliance {
    pub api: Arc<Api>,
}

fn row_of(r: ReportRow) -> compliance_proto::ReportRow {
    compliance_proto::ReportRow {
        height: r.height,
        time_ms: r.time_ms,
        transaction: r.transaction.to_string(),
        index: r.index,
        sender: r.sender.to_string(),
        event: r.event,
        module: r.module,
        from: r.from.unwrap_or_default(),
        to: r.to.unwrap_or_default(),
        amount: r.amount.unwrap_or_default(),
        rule: r.rule.unwrap_or_default(),
    }
}

#[tonic::async_trait]
impl ComplianceService for Compliance {
    async fn get_rules(
        &self,
        req: Request<compliance_proto::GetRulesRequest>,
    ) -> Result<Response<compliance_proto::Rules>, Status> {
        let id = hash(&req.into_inner().asset, "asset id")?;
        let r = self.api.rules(&id).map_err(|e| status_of(&e))?;
        let velocity = r.velocity.as_ref();
        Ok(Response::new(compliance_proto::Rules {
            asset: r.asset.to_string(),
            paused: r.paused,
            sender: r.sender.iter().map(ToString::to_string).collect(),
            receiver: r.receiver.iter().map(ToString::to_string).collect(),
            max_holders: r.max_holders.unwrap_or(0),
            holders: r.holders.unwrap_or(0),
            max_balance: r.max_balance.unwrap_or_default(),
            velocity_amount: velocity
                .and_then(|v| v["amount"].as_str())
                .unwrap_or_default()
                .to_string(),
            velocity_period_ms: velocity.and_then(|v| v["period_ms"].as_u64()).unwrap_or(0),
            travel_threshold: r.travel_threshold.unwrap_or_default(),
            description: r.description,
        }))
    }

    async fn check_transfer(
        &self,
        req: Request<compliance_proto::CheckTransferRequest>,
    ) -> Result<Response<compliance_proto::CheckTransferResponse>, Status> {
        let r = req.into_inner();
        let asset = hash(&r.asset, "asset id")?;
        let from = address(&r.from, "from")?;
        let to = address(&r.to, "to")?;
        let amount: u128 = r
            .amount
            .parse()
            .map_err(|_| invalid_argument("amount is a decimal string of base units"))?;
        let c = self
            .api
            .check_transfer(&asset, &from, &to, amount, r.travel_record)
            .map_err(|e| status_of(&e))?;
        Ok(Response::new(compliance_proto::CheckTransferResponse {
            allowed: c.allowed,
            reason: c.reason.unwrap_or_default(),
            code: c.code.unwrap_or(0),
            message: c.message.unwrap_or_default(),
            rules: c.rules,
            height: c.height,
        }))
    }

    async fn is_blocked(
        &self,
        req: Request<compliance_proto::IsBlockedRequest>,
    ) -> Result<Response<compliance_proto::IsBlockedResponse>, Status> {
        let a = address(&req.into_inner().address, "address")?;
        let b = self.api.blocked(&a).map_err(|e| status_of(&e))?;
        Ok(Response::new(match b {
            None => compliance_proto::IsBlockedResponse::default(),
            Some(b) => compliance_proto::IsBlockedResponse {
                blocked: true,
                reason: b.reason,
                since_height: b.since_height,
            },
        }))
    }

    async fn report(
        &self,
        req: Request<compliance_proto::ReportRequest>,
    ) -> Result<Response<compliance_proto::ReportResponse>, Status> {
        let r = req.into_inner();
        let asset = hash(&r.asset, "asset id")?;
        let to = if r.to_height == 0 {
            u64::MAX
        } else {
            r.to_height
        };
        let v = self
            .api
            .report(&asset, r.from_height.max(1), to)
            .map_err(|e| status_of(&e))?;
        Ok(Response::new(compliance_proto::ReportResponse {
            rows: v.rows.into_iter().map(row_of).collect(),
            next_height: v.next_height.unwrap_or(0),
            to_height: v.to_height,
        }))
    }
}
