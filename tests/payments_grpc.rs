//! gRPC `mamey.payments.v1.PaymentService` end to end, on a real dev node process:
//!
//! - `payments_over_grpc`: the faucet pays an account with `mameynode pay` (a UETR and an
//!   end-to-end id); `GetByUetr`, `GetByEndToEndId` and `GetPayments` return that payment,
//!   committed or finalized; an unknown UETR is NOT_FOUND, a malformed one (or a UUID that is not
//!   version 4) INVALID_ARGUMENT; `GetAccountOptions` and the empty escrow, standing order and
//!   invoice pages of the recipient; `StreamPaymentEvents` for the recipient delivers the `payment`
//!   event of a second payment sent after subscribing, and with `from_height` replays the first.
//!
//! The node listens on port 0 for every endpoint (see `tests/common`), so this file runs in
//! parallel with the other node tests without colliding.

mod common;

use std::time::Duration;

use common::{cli, new_address, stdout_of, Node};
use mameynode::grpc::payments_proto::payment_service_client::PaymentServiceClient;
use mameynode::grpc::payments_proto::{
    GetAccountOptionsRequest, GetByEndToEndIdRequest, GetByUetrRequest, GetPaymentsRequest,
    ListEscrowsRequest, ListInvoicesRequest, ListStandingOrdersRequest, Payment, PaymentEvent,
    StreamPaymentEventsRequest,
};
use mameynode::keys;
use rand_core::RngCore;
use tonic::transport::Channel;
use tonic::Code;

/// How long a streamed event may take to arrive.
const EVENT_LIMIT: Duration = Duration::from_secs(30);

/// A random UUID version 4 (RFC 4122 variant), lowercase.
fn uuid_v4() -> String {
    let mut b = [0u8; 16];
    rand_core::OsRng.fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// `mameynode pay --key KEY --to TO --amount AMOUNT --uetr U --end-to-end-id E --rpc URL --wait`;
/// the transaction id it prints.
fn pay(url: &str, key: &str, to: &str, amount: &str, uetr: &str, e2e: &str) -> String {
    let args = [
        "pay",
        "--key",
        key,
        "--to",
        to,
        "--amount",
        amount,
        "--uetr",
        uetr,
        "--end-to-end-id",
        e2e,
        "--rpc",
        url,
        "--wait",
    ];
    let out = stdout_of(&cli(&args), &args.join(" "));
    let id = out
        .lines()
        .last()
        .map(str::trim)
        .unwrap_or_default()
        .to_string();
    assert!(
        id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "`pay` printed no transaction id: {out:?}"
    );
    id
}

/// Checks that `p` is the committed native payment `tx` of `amount` from `from` to `to`.
fn assert_payment(
    p: &Payment,
    tx: &str,
    from: &str,
    to: &str,
    amount: &str,
    uetr: &str,
    e2e: &str,
) {
    assert_eq!(p.transaction, tx, "{p:?}");
    assert!(
        p.status == "committed" || p.status == "finalized",
        "status {:?}: {p:?}",
        p.status
    );
    assert!(p.height.is_some_and(|h| h > 0), "{p:?}");
    assert_eq!(
        (p.kind.as_str(), p.output, p.from.as_str(), p.to.as_str()),
        ("pay", 0, from, to),
        "{p:?}"
    );
    assert_eq!((p.asset.as_str(), p.amount.as_str()), ("", amount), "{p:?}");
    let refs = p.refs.as_ref().expect("refs");
    assert_eq!(
        (refs.uetr.as_str(), refs.end_to_end_id.as_str()),
        (uetr, e2e),
        "{p:?}"
    );
    assert!(p.error.is_empty() && p.error_code.is_none(), "{p:?}");
}

/// The next `payment` event of the stream (skipping any other payment event), or a panic after
/// [`EVENT_LIMIT`].
async fn next_payment_event(stream: &mut tonic::Streaming<PaymentEvent>) -> PaymentEvent {
    let deadline = tokio::time::Instant::now() + EVENT_LIMIT;
    loop {
        let e = tokio::time::timeout_at(deadline, stream.message())
            .await
            .expect("no payment event within the limit")
            .expect("the stream failed")
            .expect("the stream ended");
        if e.r#type == "payment" {
            return e;
        }
    }
}

#[test]
fn payments_over_grpc() {
    let node = Node::options().block_interval_ms(50).start_in_temp_dir();
    let url = node.url.clone();
    let faucet_key = node
        .dir
        .join("dev/faucet.key")
        .to_str()
        .expect("utf-8 path")
        .to_string();
    let faucet = keys::address_of(&node.faucet()).to_string();
    let to = new_address().to_string();

    let uetr = uuid_v4();
    let tx1 = pay(&url, &faucet_key, &to, "5", &uetr, "E2E-1");

    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let grpc = format!("http://{}", node.grpc);
    runtime.block_on(async {
        let mut c: PaymentServiceClient<Channel> =
            PaymentServiceClient::connect(grpc).await.expect("connect");

        // By UETR, by (sender, end-to-end id) and by transaction: the same payment.
        let p = c
            .get_by_uetr(GetByUetrRequest { uetr: uetr.clone() })
            .await
            .expect("GetByUetr")
            .into_inner();
        assert_payment(&p, &tx1, &faucet, &to, "5", &uetr, "E2E-1");
        let height1 = p.height.expect("checked");
        // Any case of the UETR's hex finds it.
        let upper = c
            .get_by_uetr(GetByUetrRequest {
                uetr: uetr.to_uppercase(),
            })
            .await
            .expect("GetByUetr in uppercase")
            .into_inner();
        assert_eq!(upper, p);
        let by_e2e = c
            .get_by_end_to_end_id(GetByEndToEndIdRequest {
                sender: faucet.clone(),
                end_to_end_id: "E2E-1".into(),
            })
            .await
            .expect("GetByEndToEndId")
            .into_inner();
        assert_eq!(by_e2e, p);
        let of_tx = c
            .get_payments(GetPaymentsRequest {
                transaction: tx1.clone(),
            })
            .await
            .expect("GetPayments")
            .into_inner();
        assert_eq!(of_tx.payments, vec![p.clone()]);

        // Not found, and malformed.
        let e = c
            .get_by_uetr(GetByUetrRequest { uetr: uuid_v4() })
            .await
            .expect_err("an unknown UETR");
        assert_eq!(e.code(), Code::NotFound, "{e:?}");
        for bad in ["not-a-uuid", "", "6ba7b810-9dad-11d1-80b4-00c04fd430c8"] {
            let e = c
                .get_by_uetr(GetByUetrRequest { uetr: bad.into() })
                .await
                .expect_err("a malformed UETR");
            assert_eq!(e.code(), Code::InvalidArgument, "{bad:?}: {e:?}");
        }
        let e = c
            .get_by_end_to_end_id(GetByEndToEndIdRequest {
                sender: to.clone(),
                end_to_end_id: "E2E-1".into(),
            })
            .await
            .expect_err("the recipient sent nothing");
        assert_eq!(e.code(), Code::NotFound, "{e:?}");
        let e = c
            .get_by_end_to_end_id(GetByEndToEndIdRequest {
                sender: "nope".into(),
                end_to_end_id: "E2E-1".into(),
            })
            .await
            .expect_err("a malformed sender");
        assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
        let e = c
            .get_payments(GetPaymentsRequest {
                transaction: "00".repeat(32),
            })
            .await
            .expect_err("an unknown transaction");
        assert_eq!(e.code(), Code::NotFound, "{e:?}");

        // The recipient's options and (empty) pages.
        let o = c
            .get_account_options(GetAccountOptionsRequest {
                address: to.clone(),
            })
            .await
            .expect("GetAccountOptions")
            .into_inner();
        assert_eq!(
            (o.address.as_str(), o.require_destination_tag),
            (to.as_str(), false)
        );
        let escrows = c
            .list_escrows(ListEscrowsRequest {
                address: to.clone(),
                ..Default::default()
            })
            .await
            .expect("ListEscrows")
            .into_inner();
        assert!(escrows.escrows.is_empty() && escrows.next_cursor.is_empty());
        let orders = c
            .list_standing_orders(ListStandingOrdersRequest {
                address: to.clone(),
                ..Default::default()
            })
            .await
            .expect("ListStandingOrders")
            .into_inner();
        assert!(orders.standing_orders.is_empty() && orders.next_cursor.is_empty());
        let invoices = c
            .list_invoices(ListInvoicesRequest {
                address: to.clone(),
                ..Default::default()
            })
            .await
            .expect("ListInvoices")
            .into_inner();
        assert!(invoices.invoices.is_empty() && invoices.next_cursor.is_empty());

        // The stream: subscribed before the second payment is sent, it delivers its event. The
        // call returns once the node has subscribed to commits, so nothing can be missed.
        let e = c
            .stream_payment_events(StreamPaymentEventsRequest {
                address: "nope".into(),
                from_height: None,
            })
            .await
            .expect_err("a malformed address");
        assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
        let mut live = c
            .stream_payment_events(StreamPaymentEventsRequest {
                address: to.clone(),
                from_height: None,
            })
            .await
            .expect("StreamPaymentEvents")
            .into_inner();
        let uetr2 = uuid_v4();
        let (u2, t, k) = (uetr2.clone(), to.clone(), faucet_key.clone());
        let sent = tokio::task::spawn_blocking(move || pay(&url, &k, &t, "7", &u2, "E2E-2"));
        let e = next_payment_event(&mut live).await;
        let tx2 = sent.await.expect("the pay thread");
        assert_eq!(e.transaction, tx2, "{e:?}");
        assert!(e.height > height1, "{e:?}");
        let attr = |e: &PaymentEvent, k: &str| e.attributes.get(k).cloned().unwrap_or_default();
        assert_eq!(
            (
                attr(&e, "from"),
                attr(&e, "to"),
                attr(&e, "amount"),
                attr(&e, "uetr"),
                attr(&e, "end_to_end_id")
            ),
            (
                faucet.clone(),
                to.clone(),
                "7".into(),
                uetr2,
                "E2E-2".into()
            ),
            "{e:?}"
        );
        assert!(!e.attributes.contains_key("asset"), "native: {e:?}");

        // From the first payment's height: the first payment is replayed, then the second.
        let mut replay = c
            .stream_payment_events(StreamPaymentEventsRequest {
                address: to.clone(),
                from_height: Some(height1),
            })
            .await
            .expect("StreamPaymentEvents from a height")
            .into_inner();
        let first = next_payment_event(&mut replay).await;
        assert_eq!(
            (
                first.transaction.as_str(),
                first.height,
                attr(&first, "uetr")
            ),
            (tx1.as_str(), height1, uetr.clone()),
            "{first:?}"
        );
        let second = next_payment_event(&mut replay).await;
        assert_eq!(second, e);

        // from_height 0 is refused, as StreamService refuses it.
        let z = c
            .stream_payment_events(StreamPaymentEventsRequest {
                address: to.clone(),
                from_height: Some(0),
            })
            .await
            .expect_err("from_height 0");
        assert_eq!(z.code(), Code::InvalidArgument, "{z:?}");
    });
}
