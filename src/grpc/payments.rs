//! `mamey.payments.v1.PaymentService`: each query calls the same [`Api`] function as its JSON-RPC
//! twin (`payments_*`) and maps the view to its message. `StreamPaymentEvents` is
//! `StreamService.Subscribe` with the event filter module `payments` and the account, so it
//! replays, joins live blocks and ends a lagging stream exactly as that does.

use std::collections::HashMap;
use std::sync::Arc;

use tokio_stream::StreamExt;
use tonic::{Request, Response, Status};

use super::proto::{self, stream_service_server::StreamService, subscribe_update::Update};
use super::stream::Streams;
use super::{
    invalid_argument, non_empty as opt, page_limit as limit, parse_address as address,
    parse_hash as hash, status_of,
};
use crate::api::payments::{
    AccountOptionsView, EscrowView, InvoiceView, PaymentView, RefsView, StandingOrderView,
};
use crate::api::views::TxStatus;
use crate::api::Api;

/// Generated code for `mamey.payments.v1`.
#[allow(clippy::all, missing_docs, unreachable_pub)]
pub mod payments_proto {
    tonic::include_proto!("mamey.payments.v1");
}

use payments_proto::payment_service_server::PaymentService;

pub use payments_proto::payment_service_server::PaymentServiceServer;

fn text<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

fn status_name(s: TxStatus) -> String {
    match s {
        TxStatus::Pending => "pending",
        TxStatus::Committed => "committed",
        TxStatus::Finalized => "finalized",
        TxStatus::Rejected => "rejected",
    }
    .into()
}

fn refs_of(r: RefsView) -> payments_proto::Refs {
    payments_proto::Refs {
        end_to_end_id: r.end_to_end_id.unwrap_or_default(),
        uetr: r.uetr.unwrap_or_default(),
        remittance: r.remittance.unwrap_or_default(),
        creditor_reference: r.creditor_reference.unwrap_or_default(),
        purpose: r.purpose.unwrap_or_default(),
        destination_tag: r.destination_tag,
    }
}

fn payment_of(p: PaymentView) -> payments_proto::Payment {
    payments_proto::Payment {
        transaction: p.transaction.to_string(),
        output: p.output,
        kind: p.kind,
        status: status_name(p.status),
        height: p.height,
        from: p.from.to_string(),
        to: p.to.to_string(),
        asset: text(p.asset),
        amount: p.amount,
        refs: Some(refs_of(p.refs)),
        error: p.error.unwrap_or_default(),
        error_code: p.error_code,
        later: p.later.iter().map(ToString::to_string).collect(),
    }
}

fn escrow_of(e: EscrowView) -> payments_proto::Escrow {
    payments_proto::Escrow {
        id: e.id.to_string(),
        sender: e.sender.to_string(),
        to: e.to.to_string(),
        asset: text(e.asset),
        amount: e.amount,
        finish_after_ms: e.finish_after_ms,
        cancel_after_ms: e.cancel_after_ms,
        condition: text(e.condition),
        created_height: e.created_height,
        held_by: e.held_by.to_string(),
        refs: Some(refs_of(e.refs)),
    }
}

fn order_of(o: StandingOrderView) -> payments_proto::StandingOrder {
    use payments_proto::standing_order::Period;
    let period = match (o.period["blocks"].as_u64(), o.period["ms"].as_u64()) {
        (Some(n), _) => Some(Period::PeriodBlocks(n)),
        (None, Some(n)) => Some(Period::PeriodMs(n)),
        (None, None) => None,
    };
    payments_proto::StandingOrder {
        id: o.id.to_string(),
        owner: o.owner.to_string(),
        to: o.to.to_string(),
        asset: text(o.asset),
        amount: o.amount,
        period,
        remaining: o.remaining,
        on_failure: o.on_failure,
        paid: o.paid,
        failed: o.failed,
        next_due: o.next_due,
        last_attempt_height: o.last_attempt_height,
        last_attempt_code: o.last_attempt_code,
        created_height: o.created_height,
        refs: Some(refs_of(o.refs)),
    }
}

fn invoice_of(i: InvoiceView) -> payments_proto::Invoice {
    payments_proto::Invoice {
        id: i.id.to_string(),
        payee: i.payee.to_string(),
        asset: text(i.asset),
        amount: i.amount,
        expires_ms: i.expires_ms,
        status: i.status,
        payer: text(i.payer),
        settled_height: i.settled_height,
        created_height: i.created_height,
        refs: Some(refs_of(i.refs)),
    }
}

fn options_of(o: AccountOptionsView) -> payments_proto::AccountOptions {
    payments_proto::AccountOptions {
        address: o.address.to_string(),
        require_destination_tag: o.require_destination_tag,
    }
}

/// A `StreamService` event update as a `PaymentEvent`; other updates (there are none with this
/// filter) are dropped.
fn event_of(u: proto::SubscribeUpdate) -> Option<payments_proto::PaymentEvent> {
    let Some(Update::Event(e)) = u.update else {
        return None;
    };
    let event = e.event.unwrap_or_default();
    Some(payments_proto::PaymentEvent {
        height: e.height,
        transaction: hex::encode(&e.tx_id),
        index: e.index,
        r#type: event.r#type,
        attributes: event
            .attributes
            .into_iter()
            .map(|a| (a.key, a.value))
            .collect::<HashMap<_, _>>(),
    })
}

pub struct Payments {
    pub api: Arc<Api>,
    /// The stream machinery `StreamPaymentEvents` runs on (same buffer and lag bound).
    pub streams: Streams,
}

type EventStream = std::pin::Pin<
    Box<dyn tokio_stream::Stream<Item = Result<payments_proto::PaymentEvent, Status>> + Send>,
>;

#[tonic::async_trait]
impl PaymentService for Payments {
    async fn get_by_uetr(
        &self,
        req: Request<payments_proto::GetByUetrRequest>,
    ) -> Result<Response<payments_proto::Payment>, Status> {
        let p = self
            .api
            .payment_by_uetr(&req.into_inner().uetr)
            .map_err(|e| status_of(&e))?;
        Ok(Response::new(payment_of(p)))
    }

    async fn get_by_end_to_end_id(
        &self,
        req: Request<payments_proto::GetByEndToEndIdRequest>,
    ) -> Result<Response<payments_proto::Payment>, Status> {
        let r = req.into_inner();
        let sender = address(&r.sender, "sender")?;
        if r.end_to_end_id.is_empty() {
            return Err(invalid_argument("end_to_end_id is empty"));
        }
        let p = self
            .api
            .payment_by_end_to_end_id(&sender, &r.end_to_end_id)
            .map_err(|e| status_of(&e))?;
        Ok(Response::new(payment_of(p)))
    }

    async fn get_payments(
        &self,
        req: Request<payments_proto::GetPaymentsRequest>,
    ) -> Result<Response<payments_proto::GetPaymentsResponse>, Status> {
        let id = hash(&req.into_inner().transaction, "transaction id")?;
        let v = self.api.payments_of_tx(id).map_err(|e| status_of(&e))?;
        Ok(Response::new(payments_proto::GetPaymentsResponse {
            payments: v.into_iter().map(payment_of).collect(),
        }))
    }

    async fn get_escrow(
        &self,
        req: Request<payments_proto::GetEscrowRequest>,
    ) -> Result<Response<payments_proto::Escrow>, Status> {
        let id = hash(&req.into_inner().id, "escrow id")?;
        let e = self.api.escrow(&id).map_err(|e| status_of(&e))?;
        Ok(Response::new(escrow_of(e)))
    }

    async fn list_escrows(
        &self,
        req: Request<payments_proto::ListEscrowsRequest>,
    ) -> Result<Response<payments_proto::ListEscrowsResponse>, Status> {
        let r = req.into_inner();
        let a = address(&r.address, "address")?;
        let page = self
            .api
            .escrows_of(&a, opt(&r.cursor), limit(r.limit))
            .map_err(|e| status_of(&e))?;
        Ok(Response::new(payments_proto::ListEscrowsResponse {
            escrows: page.items.into_iter().map(escrow_of).collect(),
            next_cursor: page.next_cursor.unwrap_or_default(),
        }))
    }

    async fn get_standing_order(
        &self,
        req: Request<payments_proto::GetStandingOrderRequest>,
    ) -> Result<Response<payments_proto::StandingOrder>, Status> {
        let id = hash(&req.into_inner().id, "standing order id")?;
        let o = self.api.standing_order(&id).map_err(|e| status_of(&e))?;
        Ok(Response::new(order_of(o)))
    }

    async fn list_standing_orders(
        &self,
        req: Request<payments_proto::ListStandingOrdersRequest>,
    ) -> Result<Response<payments_proto::ListStandingOrdersResponse>, Status> {
        let r = req.into_inner();
        let a = address(&r.address, "address")?;
        let page = self
            .api
            .standing_orders_of(&a, opt(&r.cursor), limit(r.limit))
            .map_err(|e| status_of(&e))?;
        Ok(Response::new(payments_proto::ListStandingOrdersResponse {
            standing_orders: page.items.into_iter().map(order_of).collect(),
            next_cursor: page.next_cursor.unwrap_or_default(),
        }))
    }

    async fn get_invoice(
        &self,
        req: Request<payments_proto::GetInvoiceRequest>,
    ) -> Result<Response<payments_proto::Invoice>, Status> {
        let id = hash(&req.into_inner().id, "invoice id")?;
        let i = self.api.invoice(&id).map_err(|e| status_of(&e))?;
        Ok(Response::new(invoice_of(i)))
    }

    async fn list_invoices(
        &self,
        req: Request<payments_proto::ListInvoicesRequest>,
    ) -> Result<Response<payments_proto::ListInvoicesResponse>, Status> {
        let r = req.into_inner();
        let a = address(&r.address, "address")?;
        let page = self
            .api
            .invoices_of(&a, opt(&r.cursor), limit(r.limit))
            .map_err(|e| status_of(&e))?;
        Ok(Response::new(payments_proto::ListInvoicesResponse {
            invoices: page.items.into_iter().map(invoice_of).collect(),
            next_cursor: page.next_cursor.unwrap_or_default(),
        }))
    }

    async fn get_account_options(
        &self,
        req: Request<payments_proto::GetAccountOptionsRequest>,
    ) -> Result<Response<payments_proto::AccountOptions>, Status> {
        let a = address(&req.into_inner().address, "address")?;
        let o = self.api.account_options(&a).map_err(|e| status_of(&e))?;
        Ok(Response::new(options_of(o)))
    }

    type StreamPaymentEventsStream = EventStream;

    async fn stream_payment_events(
        &self,
        req: Request<payments_proto::StreamPaymentEventsRequest>,
    ) -> Result<Response<Self::StreamPaymentEventsStream>, Status> {
        let r = req.into_inner();
        let a = address(&r.address, "address")?;
        let sub = proto::SubscribeRequest {
            from_height: r.from_height,
            events: Some(proto::EventFilter {
                module: "payments".into(),
                r#type: String::new(),
                address: a.to_string(),
            }),
            ..Default::default()
        };
        let updates = self
            .streams
            .subscribe(Request::new(sub))
            .await?
            .into_inner();
        // Errors (lagged, shutting down) pass through and end the stream as they end Subscribe's.
        let events = updates.filter_map(|u| match u {
            Ok(u) => event_of(u).map(Ok),
            Err(status) => Some(Err(status)),
        });
        Ok(Response::new(Box::pin(events)))
    }
}
