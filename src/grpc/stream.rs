//! `StreamService.Subscribe`: filtered streams of blocks, transactions, account changes and module
//! events (by module, type and address), with replay from any height joined to the live stream.
//!
//! How replay and live join with no gap and no duplicate: the stream subscribes to the node's
//! commit broadcast *before* it reads the head, then sends heights `from_height..` from storage
//! until it reaches the stored head, then takes live blocks. It tracks the next height it owes the
//! client: a live block below it was already sent from storage (skipped), a live block above it
//! means blocks were missed (the broadcast lagged) and they are read from storage first. Every
//! committed block is in storage, so a stream never loses a block.
//!
//! Bounds: each stream has a bounded buffer (`grpc.stream_buffer_updates`); when the client reads
//! slowly the stream waits. Replay from storage goes at the client's pace; once the stream has caught
//! up with the head, falling more than `grpc.stream_lag_blocks_max` blocks behind again ends it with
//! RESOURCE_EXHAUSTED, saying the height to resume from (resuming replays from storage). It is
//! never silently skipped.

use std::collections::BTreeSet;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::proto::{
    self, stream_service_server::StreamService, subscribe_update::Update, SubscribeRequest,
    SubscribeUpdate,
};
use super::{header_of, invalid_argument, status_of};
use crate::api::{block_events, Api, EventFilter};
use crate::config::GrpcConfig;
use crate::pipeline::CommittedBlock;
use crate::types::{Account, Address, BankCall, Block, Payload, Receipt, StakingCall};

pub struct Streams {
    api: Arc<Api>,
    buffer: usize,
    lag_blocks_max: u64,
}

impl Streams {
    pub fn new(api: Arc<Api>, config: &GrpcConfig) -> Self {
        Self {
            api,
            buffer: config.stream_buffer_updates,
            lag_blocks_max: config.stream_lag_blocks_max,
        }
    }
}

/// What one subscriber asked for.
struct Filter {
    blocks: bool,
    transactions: bool,
    accounts: BTreeSet<Address>,
    events: Option<EventFilter>,
}

impl Filter {
    fn updates(
        &self,
        block: &Block,
        receipts: &[Receipt],
        diff: &[(Address, Account)],
    ) -> Vec<SubscribeUpdate> {
        let h = &block.header;
        let mut out = Vec::new();
        if self.blocks {
            out.push(SubscribeUpdate {
                update: Some(Update::Block(proto::BlockUpdate {
                    height: h.height,
                    header: Some(header_of(h)),
                })),
            });
        }
        if self.transactions {
            for (index, tx) in block.transactions.iter().enumerate() {
                // The counterparty: a transfer's recipient, a (un)delegation's validator.
                let (to, amount) = match &tx.tx.payload {
                    Payload::Bank(BankCall::Transfer { to, amount }) => (Some(to), *amount),
                    Payload::Staking(
                        StakingCall::Delegate { validator, amount }
                        | StakingCall::Undelegate { validator, amount },
                    ) => (Some(validator), *amount),
                    Payload::Staking(StakingCall::RegisterValidator { amount, .. }) => {
                        (None, *amount)
                    }
                    Payload::Staking(
                        StakingCall::ReportEquivocation { .. } | StakingCall::SetEndpoint { .. },
                    ) => (None, 0),
                    // Issued assets: the counterparty; amounts are in the events (u128).
                    Payload::Bank(
                        BankCall::TransferAsset { to, .. }
                        | BankCall::TransferWithTravel { to, .. }
                        | BankCall::Mint { to, .. },
                    ) => (Some(to), 0),
                    Payload::Payments(crate::modules::payments::PaymentsCall::Pay(p)) => (
                        Some(&p.to),
                        if p.asset.is_none() {
                            u64::try_from(p.amount).unwrap_or(u64::MAX)
                        } else {
                            0
                        },
                    ),
                    Payload::Bank(_)
                    | Payload::Identity(_)
                    | Payload::Compliance(_)
                    | Payload::Payments(_)
                    | Payload::Dex(_) => (None, 0),
                };
                if !self.accounts.is_empty()
                    && !self.accounts.contains(&tx.tx.sender)
                    && !to.is_some_and(|to| self.accounts.contains(to))
                {
                    continue;
                }
                out.push(SubscribeUpdate {
                    update: Some(Update::Transaction(proto::TransactionUpdate {
                        height: h.height,
                        id: tx.id.0.to_vec(),
                        index: index as u32,
                        sender: tx.tx.sender.to_string(),
                        nonce: tx.tx.nonce,
                        fee: tx.tx.fee,
                        to: to.map(|a| a.to_string()).unwrap_or_default(),
                        amount,
                    })),
                });
            }
        }
        if let Some(f) = &self.events {
            for e in block_events(block, receipts, f) {
                out.push(SubscribeUpdate {
                    update: Some(Update::Event(proto::EventUpdate {
                        height: e.height,
                        tx_id: e.tx_id.0.to_vec(),
                        index: e.index,
                        event: Some(super::modules::event_of(&e.event)),
                    })),
                });
            }
        }
        for (address, account) in diff {
            if self.accounts.contains(address) {
                out.push(SubscribeUpdate {
                    update: Some(Update::Account(proto::AccountUpdate {
                        height: h.height,
                        account: Some(proto::Account {
                            address: address.to_string(),
                            balance: account.balance,
                            nonce: account.nonce,
                            pending_nonce: account.nonce,
                        }),
                    })),
                });
            }
        }
        out
    }
}

type UpdateStream =
    Pin<Box<dyn tokio_stream::Stream<Item = Result<SubscribeUpdate, Status>> + Send>>;

#[tonic::async_trait]
impl StreamService for Streams {
    type SubscribeStream = UpdateStream;

    async fn subscribe(
        &self,
        req: Request<SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let req = req.into_inner();
        let mut accounts = BTreeSet::new();
        for a in &req.accounts {
            accounts.insert(
                a.parse::<Address>()
                    .map_err(|e| invalid_argument(format!("accounts: {a}: {e}")))?,
            );
        }
        if req.from_height == Some(0) {
            return Err(invalid_argument(
                "from_height starts at 1 (height 0 is genesis, which has no transactions)",
            ));
        }
        if req.commitment < 0 || req.commitment > proto::Commitment::Finalized as i32 {
            return Err(invalid_argument(format!(
                "unknown commitment {}",
                req.commitment
            )));
        }
        let events = req
            .events
            .map(|f| {
                let text = |s: String| (!s.is_empty()).then_some(s);
                EventFilter::new(text(f.module), text(f.r#type), text(f.address).as_deref())
                    .map_err(|e| status_of(&e))
            })
            .transpose()?;
        let filter = Filter {
            blocks: req.blocks,
            transactions: req.transactions,
            accounts,
            events,
        };
        if !filter.blocks
            && !filter.transactions
            && filter.accounts.is_empty()
            && filter.events.is_none()
        {
            return Err(invalid_argument(
                "nothing to stream: set blocks, transactions, accounts or events",
            ));
        }
        // Subscribe before reading the head, so that no block falls between replay and live.
        let live = self.api.commits.subscribe();
        let head = self.api.head();
        let next = req.from_height.unwrap_or(head + 1);
        let (tx, rx) = mpsc::channel(self.buffer);
        let api = self.api.clone();
        let lag_max = self.lag_blocks_max;
        tokio::spawn(async move {
            let subscriber =
                crate::telemetry::SubscriberGuard::new(crate::telemetry::SubscriberKind::Grpc);
            if let Err(status) = pump(api, filter, live, next, lag_max, &tx).await {
                if status.code() == tonic::Code::ResourceExhausted {
                    subscriber.lagged();
                }
                let _ = tx.send(Err(status)).await;
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

/// Sends every block from `next` on to the client, from storage and then live.
async fn pump(
    api: Arc<Api>,
    filter: Filter,
    mut live: broadcast::Receiver<Arc<CommittedBlock>>,
    mut next: u64,
    lag_max: u64,
    tx: &mpsc::Sender<Result<SubscribeUpdate, Status>>,
) -> Result<(), Status> {
    // Replay goes at the client's pace (it reads storage, holding nothing in memory); the lag
    // bound applies once the stream has caught up with the head and then falls behind again.
    let mut caught_up = false;
    loop {
        while next <= api.head() {
            let behind = api.head() - next;
            if caught_up && behind > lag_max {
                return Err(Status::resource_exhausted(format!(
                    "lagged: this stream fell more than {lag_max} blocks behind the head; resume \
                     with from_height = {next}"
                )));
            }
            let (block, diff) = api.stored_block(next).map_err(|e| status_of(&e))?;
            let receipts = if filter.events.is_some() {
                api.storage
                    .receipts(next)
                    .map_err(|e| Status::internal(e.to_string()))?
            } else {
                Vec::new()
            };
            send_all(tx, filter.updates(&block, &receipts, &diff)).await?;
            next += 1;
        }
        caught_up = true;
        match live.recv().await {
            Ok(c) if c.head.height == next => {
                let diff: Vec<(Address, Account)> =
                    c.writes.iter().map(|(a, acc)| (*a, *acc)).collect();
                send_all(tx, filter.updates(&c.block, &c.receipts, &diff)).await?;
                next += 1;
            }
            // Already sent from storage, or ahead of us: the loop above reads what is missing.
            Ok(_) => {}
            Err(broadcast::error::RecvError::Lagged(_)) => {}
            Err(broadcast::error::RecvError::Closed) => {
                return Err(Status::unavailable("node shutting down"))
            }
        }
    }
}

async fn send_all(
    tx: &mpsc::Sender<Result<SubscribeUpdate, Status>>,
    updates: Vec<SubscribeUpdate>,
) -> Result<(), Status> {
    for u in updates {
        // The client went away: end quietly.
        if tx.send(Ok(u)).await.is_err() {
            return Err(Status::cancelled("client went away"));
        }
    }
    Ok(())
}
