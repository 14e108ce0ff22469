//! The standing orders' schedule: due orders run at the start of blocks, a bounded number per
//! block, in a deterministic order; the rest wait, in order.
//!
//! Two schedules, one per kind of period: by height (a bucket per height) and by block time (a
//! bucket per second of block time). A bucket holds pages of order ids in the order they were
//! scheduled. A cursor per schedule says where it resumes. A height bucket is due once the block
//! reaches its height; a time bucket once the block's time has passed its whole second (periods
//! in block time are honoured to the second). Each block runs the height schedule, then the time
//! schedule, until the budget (`standing_orders_per_block_max`) is spent; a bucket is never
//! written behind its cursor (new entries land in a later bucket than any one in progress), so
//! nothing is skipped. An order runs at most once per block: after a payment its next period is
//! scheduled no earlier than the next block (a late order catches up one period per block).
//! Empty buckets cost a read each, bounded too ([`BUCKET_READS_MAX`]).

use super::apply::{check_tag, event, move_funds, payment_attrs};
use super::calls::{OnFailure, Period};
use super::state::{
    active_key, bucket_key, cursor_key, of_account_key, order_key, owner_count_key, page_key,
    Attempt, Count, Cursor, DuePage, StandingOrder, OBJECT_ORDER, PAGE_LEN, SCHEDULE_HEIGHT,
    SCHEDULE_TIME,
};
use super::PaymentsParams;
use crate::codec::Encode;
use crate::execution::{BlockEnv, Overlay, StateView, TxError};
use crate::modules::{put, read, write};
use crate::types::{AttrValue, Event, Hash};

/// Width of a time bucket.
pub const TIME_BUCKET_MS: u64 = 1_000;
/// Most bucket reads (empty ones included) per block and schedule.
pub const BUCKET_READS_MAX: u32 = 1_024;

/// The schedule and bucket of a due point.
fn bucket_of(period: &Period, due: u64) -> (u8, u64) {
    match period {
        Period::Blocks(_) => (SCHEDULE_HEIGHT, due),
        Period::Millis(_) => (SCHEDULE_TIME, due / TIME_BUCKET_MS),
    }
}

/// The bucket the schedule `kind` is at now (where a missing cursor starts).
fn current_bucket(kind: u8, env: &BlockEnv) -> u64 {
    if kind == SCHEDULE_HEIGHT {
        env.height
    } else {
        env.time_ms / TIME_BUCKET_MS
    }
}

/// Whether every entry of `bucket` is due at this block.
fn due(kind: u8, bucket: u64, env: &BlockEnv) -> bool {
    if kind == SCHEDULE_HEIGHT {
        bucket <= env.height
    } else {
        bucket
            .checked_add(1)
            .and_then(|b| b.checked_mul(TIME_BUCKET_MS))
            .is_some_and(|end| end <= env.time_ms)
    }
}

/// Schedules order `id` at `due_at` (a height or a block time, by its period), never earlier
/// than the bucket after the one this block may still run.
pub(super) fn enqueue<V: StateView>(
    overlay: &mut Overlay<'_, V>,
    env: &BlockEnv,
    id: &Hash,
    period: &Period,
    due_at: u64,
) -> Result<(), V::Error> {
    let (kind, bucket) = bucket_of(period, due_at);
    let earliest = match kind {
        SCHEDULE_HEIGHT => env.height + 1,
        _ => env.time_ms / TIME_BUCKET_MS,
    };
    let bucket = bucket.max(earliest);
    let ckey = cursor_key(kind);
    if read::<Cursor, V>(overlay, &ckey)?.is_none() {
        let start = Cursor {
            bucket: current_bucket(kind, env),
            ..Cursor::default()
        };
        write(overlay, ckey, &start);
    }
    let bkey = bucket_key(kind, bucket);
    let pages = read::<Count, V>(overlay, &bkey)?.map_or(0, |c| c.0) as u32;
    let last = pages.checked_sub(1);
    let mut page = match last {
        Some(p) => read::<DuePage, V>(overlay, &page_key(kind, bucket, p))?.unwrap_or_default(),
        None => DuePage::default(),
    };
    let (index, pages) = match last {
        Some(p) if page.0.len() < PAGE_LEN => (p, pages),
        _ => {
            page = DuePage::default();
            (pages, pages + 1)
        }
    };
    page.0.push(*id);
    put(
        overlay,
        page_key(kind, bucket, index),
        Some(page.to_bytes()),
    )?;
    write(overlay, bkey, &Count(pages.into()));
    Ok(())
}

/// Starts both schedules at this block: called when the chain has no active order, so that a
/// new order does not wait while the cursors walk the empty buckets of an idle stretch (they only
/// move while orders are active). Entries behind them can only name ended or cancelled orders.
pub(super) fn restart<V: StateView>(
    overlay: &mut Overlay<'_, V>,
    env: &BlockEnv,
) -> Result<(), V::Error> {
    for kind in [SCHEDULE_HEIGHT, SCHEDULE_TIME] {
        let start = Cursor {
            bucket: current_bucket(kind, env),
            ..Cursor::default()
        };
        put(overlay, cursor_key(kind), Some(start.to_bytes()))?;
    }
    Ok(())
}

/// Forgets an order (cancelled or finished). Its schedule entry stays and is skipped when due.
pub(super) fn remove_order<V: StateView>(
    overlay: &mut Overlay<'_, V>,
    id: &Hash,
    o: &StandingOrder,
) -> Result<(), V::Error> {
    put(overlay, order_key(id), None)?;
    put(overlay, of_account_key(&o.owner, OBJECT_ORDER, id), None)?;
    let okey = owner_count_key(&o.owner);
    let owned = read::<Count, V>(overlay, &okey)?.map_or(0, |c| c.0);
    let owned = owned.checked_sub(1).expect("an owner's orders are counted");
    overlay.write(okey, (owned > 0).then(|| Count(owned).to_bytes()));
    let active = read::<Count, V>(overlay, &active_key())?.map_or(0, |c| c.0);
    let active = active.checked_sub(1).expect("active orders are counted");
    overlay.write(active_key(), (active > 0).then(|| Count(active).to_bytes()));
    Ok(())
}

/// Runs the orders due at this block, within its budget; returns their events.
pub(super) fn run_due<V: StateView>(
    overlay: &mut Overlay<'_, V>,
    params: &PaymentsParams,
    env: &BlockEnv,
) -> Result<Vec<Event>, V::Error> {
    // No active order: nothing to run, nothing written (the usual chain pays nothing here).
    if read::<Count, V>(overlay, &active_key())?.is_none() {
        return Ok(Vec::new());
    }
    let mut budget = params.standing_orders_per_block_max;
    let mut events = Vec::new();
    for kind in [SCHEDULE_HEIGHT, SCHEDULE_TIME] {
        run_schedule(overlay, env, kind, &mut budget, &mut events)?;
    }
    Ok(events)
}

fn run_schedule<V: StateView>(
    overlay: &mut Overlay<'_, V>,
    env: &BlockEnv,
    kind: u8,
    budget: &mut u32,
    events: &mut Vec<Event>,
) -> Result<(), V::Error> {
    let ckey = cursor_key(kind);
    let Some(start) = read::<Cursor, V>(overlay, &ckey)? else {
        return Ok(());
    };
    let mut c = start;
    let mut reads = BUCKET_READS_MAX;
    while *budget > 0 && reads > 0 && due(kind, c.bucket, env) {
        reads -= 1;
        let bkey = bucket_key(kind, c.bucket);
        let pages = read::<Count, V>(overlay, &bkey)?.map_or(0, |n| n.0) as u32;
        if c.page >= pages {
            // The bucket is done: forget it and move on.
            overlay.write(bkey, None);
            c = Cursor {
                bucket: c.bucket + 1,
                ..Cursor::default()
            };
            continue;
        }
        let pkey = page_key(kind, c.bucket, c.page);
        let page = read::<DuePage, V>(overlay, &pkey)?.unwrap_or_default();
        while (c.index as usize) < page.0.len() && *budget > 0 {
            let id = page.0[c.index as usize];
            c.index += 1;
            *budget -= 1;
            run_order(overlay, env, &id, events)?;
        }
        if c.index as usize >= page.0.len() {
            overlay.write(pkey, None);
            c.page += 1;
            c.index = 0;
        }
    }
    if c != start {
        write(overlay, ckey, &c);
    }
    Ok(())
}

/// One due order: pays (or records the failed attempt), then schedules its next period or ends.
fn run_order<V: StateView>(
    overlay: &mut Overlay<'_, V>,
    env: &BlockEnv,
    id: &Hash,
    events: &mut Vec<Event>,
) -> Result<(), V::Error> {
    let key = order_key(id);
    // Cancelled since it was scheduled.
    let Some(mut o) = read::<StandingOrder, V>(overlay, &key)? else {
        return Ok(());
    };
    let sp = overlay.savepoint();
    let paid = match check_tag(overlay, &o.to, &o.refs)? {
        Ok(()) => move_funds(
            overlay,
            env.time_ms,
            o.asset.as_ref(),
            &o.owner,
            &o.to,
            o.amount,
        )?,
        Err(e) => Err(e),
    };
    let attempt = o.paid + o.failed + 1;
    let mut base = vec![
        ("standing_order", AttrValue::Id(*id)),
        ("attempt", AttrValue::Amount(attempt.into())),
    ];
    let ok = match paid {
        Ok(hook_events) => {
            overlay.release(sp);
            events.extend(hook_events);
            o.paid += 1;
            o.remaining = o.remaining.map(|r| r - 1);
            o.last = Some(Attempt {
                height: env.height,
                code: 0,
            });
            base.extend(payment_attrs(
                &o.owner,
                &o.to,
                o.asset.as_ref(),
                o.amount,
                &o.refs,
            ));
            events.push(event("standing_order_paid", base));
            true
        }
        Err(e) => {
            overlay.rollback(sp);
            o.failed += 1;
            let (code, message, record) = match TxError::from(e) {
                TxError::Module(m) => (m.code, m.message, m.record),
                other => (0, other.to_string(), None),
            };
            // A compliance refusal's own record (the rule that refused) stays on the record.
            events.extend(record.map(|r| *r));
            o.last = Some(Attempt {
                height: env.height,
                code,
            });
            base.extend(o.asset.map(|a| ("asset", AttrValue::Id(a))));
            base.extend([
                ("owner", AttrValue::Address(o.owner)),
                ("to", AttrValue::Address(o.to)),
                ("code", AttrValue::Amount(code.into())),
                ("reason", AttrValue::Text(message)),
            ]);
            events.push(event("standing_order_failed", base));
            false
        }
    };
    let ended = o.remaining == Some(0) || (!ok && o.on_failure == OnFailure::Stop);
    if ended {
        remove_order(overlay, id, &o)?;
        events.push(event(
            "standing_order_ended",
            vec![
                ("standing_order", AttrValue::Id(*id)),
                ("owner", AttrValue::Address(o.owner)),
                ("paid", AttrValue::Amount(o.paid.into())),
                ("failed", AttrValue::Amount(o.failed.into())),
            ],
        ));
        return Ok(());
    }
    let step = match o.period {
        Period::Blocks(n) | Period::Millis(n) => n,
    };
    o.next_due = o.next_due.saturating_add(step);
    enqueue(overlay, env, id, &o.period, o.next_due)?;
    write(overlay, key, &o);
    Ok(())
}
