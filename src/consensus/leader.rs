//! Who proposes: stake-weighted round robin (CometBFT's proposer priorities) with leader
//! reputation (after Aptos): a validator whose turn passed without its block being decided is
//! skipped for a window that doubles with each consecutive failure, so one validator down costs
//! the network a propose timeout now and then instead of one every n heights.
//!
//! [`LeaderState`] is consensus-visible state (kept by the staking module, advanced at the end of
//! every block from the block's builder, `BlockEnv::proposer`), so every validator computes the
//! same proposer for every height and round from committed data alone, and a restarted node
//! computes it again from its state.
//!
//! Invariants: a pure function of (state, set, height, round), integer arithmetic only, maps in
//! address order; skipping applies to round 0 only (later rounds take turns among everyone, so
//! liveness never depends on the records); never everyone skipped (if all would be, nobody is);
//! priorities stay within
//! `[-PRIORITY_SPREAD_TOTALS × total, +…]` (rescaled and centred each height as CometBFT does).

use std::collections::BTreeMap;

use super::context::{Address, ValidatorSet};

/// A first failure skips a validator this many heights; each consecutive failure doubles it.
pub const SKIP_HEIGHTS_BASE: u64 = 50;
/// The doubling stops at `SKIP_HEIGHTS_BASE << SKIP_DOUBLINGS_MAX` heights.
pub const SKIP_DOUBLINGS_MAX: u32 = 7;
/// Priorities are rescaled when their spread exceeds this many times the total power.
const PRIORITY_SPREAD_TOTALS: i128 = 2;

/// The proposers of one height's rounds so far, and the priorities after the last of them.
#[derive(Debug, Clone, Default)]
pub struct Turns {
    priorities: BTreeMap<Address, i64>,
    proposers: Vec<Address>,
}

/// One validator's record as a proposer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LeaderRecord {
    /// Turns in a row that passed without this validator's block being decided.
    pub failures_in_a_row: u32,
    /// Skipped as proposer at heights below this one.
    pub skipped_until: u64,
    /// Turns missed, all told (while in the set).
    pub missed_proposals: u64,
    /// Blocks built and decided, all told (while in the set).
    pub proposed: u64,
}

/// The proposer schedule's state for height [`LeaderState::height`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeaderState {
    /// The height whose round-0 proposer `priorities` pick; 0 before the first block.
    pub height: u64,
    pub priorities: BTreeMap<Address, i64>,
    pub records: BTreeMap<Address, LeaderRecord>,
}

impl LeaderState {
    /// Whether `v` may propose at `height` by its record.
    pub fn skipped(&self, v: &Address, height: u64) -> bool {
        self.records
            .get(v)
            .is_some_and(|r| height < r.skipped_until)
    }

    /// Whether anyone in `set` may propose at `height` (if not, nobody is skipped).
    fn eligible_fn<'a>(
        &'a self,
        set: &'a ValidatorSet,
        height: u64,
    ) -> impl Fn(&Address) -> bool + 'a {
        let anyone = set
            .validators()
            .iter()
            .any(|v| !self.skipped(&v.address, height));
        move |a: &Address| !anyone || !self.skipped(a, height)
    }

    /// The proposer of `round` at `height` (the state's height, or later for a state not yet
    /// advanced: it is used as it is). Skipped validators are skipped in round 0 only: later
    /// rounds take turns among everyone, so whatever the records say, every validator gets turns
    /// once rounds fail (liveness never rests on the records being right).
    pub fn proposer(&self, set: &ValidatorSet, height: u64, round: u32) -> Address {
        let mut turns = Turns::default();
        self.turn(set, height, round, &mut turns)
    }

    /// [`LeaderState::proposer`] through `turns`, the proposers of rounds already computed for
    /// this (set, height): each round costs one step of the schedule once, not one per round
    /// before it at every call.
    pub fn turn(&self, set: &ValidatorSet, height: u64, round: u32, turns: &mut Turns) -> Address {
        if turns.proposers.is_empty() {
            turns.priorities = self.priorities.clone();
            let first = step(&mut turns.priorities, set, &self.eligible_fn(set, height));
            turns.proposers.push(first);
        }
        while turns.proposers.len() <= round as usize {
            let next = step(&mut turns.priorities, set, &|_: &Address| true);
            turns.proposers.push(next);
        }
        turns.proposers[round as usize]
    }

    /// The state for `height + 1`, after the block built by `builder` was decided at `height`
    /// under `set`; `next_set` is the set of `height + 1` (after an election, maybe another).
    /// Proposers scheduled before the builder's turn missed theirs and are skipped for a while.
    pub fn advance(
        &self,
        set: &ValidatorSet,
        height: u64,
        builder: &Address,
        next_set: &ValidatorSet,
    ) -> LeaderState {
        let eligible = self.eligible_fn(set, height);
        let mut next = self.clone();
        // The builder's turn: the first round whose proposer it is, within two passes of the
        // set (a builder found nowhere, such as one not in the set, blames nobody).
        let mut turns = self.priorities.clone();
        let mut missed = Vec::new();
        let rounds_max = 2 * set.validators().len();
        let mut found = false;
        for round in 0..rounds_max {
            let p = if round == 0 {
                step(&mut turns, set, &eligible)
            } else {
                step(&mut turns, set, &|_: &Address| true)
            };
            if p == *builder {
                found = true;
                break;
            }
            if !missed.contains(&p) {
                missed.push(p);
            }
        }
        if found {
            for v in missed {
                let r = next.records.entry(v).or_default();
                r.failures_in_a_row = r.failures_in_a_row.saturating_add(1);
                r.missed_proposals = r.missed_proposals.saturating_add(1);
                let doublings = (r.failures_in_a_row - 1).min(SKIP_DOUBLINGS_MAX);
                r.skipped_until = height + 1 + (SKIP_HEIGHTS_BASE << doublings);
            }
            let r = next.records.entry(*builder).or_default();
            r.failures_in_a_row = 0;
            r.skipped_until = 0;
            r.proposed = r.proposed.saturating_add(1);
        }
        // Round 0 of this height moves the priorities on, as it does for every height.
        normalize(&mut next.priorities, set);
        step(&mut next.priorities, set, &eligible);
        next.enter(next_set);
        next.height = height + 1;
        next
    }

    /// Follows a change of the set: leavers are forgotten, newcomers start below everyone (at
    /// −1.125 × total, as CometBFT does) so that joining does not make a validator propose at
    /// once.
    fn enter(&mut self, set: &ValidatorSet) {
        let total = i128::from(set.total_power());
        let in_set = |a: &Address| set.get(a).is_some();
        self.priorities.retain(|a, _| in_set(a));
        self.records.retain(|a, _| in_set(a));
        for v in set.validators() {
            self.priorities
                .entry(v.address)
                .or_insert_with(|| clamp(-(total + total / 8)));
        }
    }
}

fn clamp(p: i128) -> i64 {
    p.clamp(i128::from(i64::MIN / 2), i128::from(i64::MAX / 2)) as i64
}

/// One step of weighted round robin over the validators that may propose: each gains its
/// power, the one with the highest priority (the lower address on a tie) proposes and pays their
/// total. Skipped validators neither gain nor pay: their priority waits for their return, so a
/// validator back from a long skip is not owed a run of turns.
fn step(
    priorities: &mut BTreeMap<Address, i64>,
    set: &ValidatorSet,
    eligible: &impl Fn(&Address) -> bool,
) -> Address {
    let mut total: i128 = 0;
    let mut best: Option<(i128, Address)> = None;
    for v in set.validators() {
        if !eligible(&v.address) {
            continue;
        }
        total += i128::from(v.voting_power);
        let p = priorities.entry(v.address).or_insert(0);
        *p = clamp(i128::from(*p) + i128::from(v.voting_power));
        // Strictly greater: validators come in address order, so a tie keeps the lower.
        if best.map_or(true, |(b, _)| i128::from(*p) > b) {
            best = Some((i128::from(*p), v.address));
        }
    }
    let Some((_, chosen)) = best else {
        unreachable!("the set is never empty and never everyone is skipped");
    };
    if let Some(p) = priorities.get_mut(&chosen) {
        *p = clamp(i128::from(*p) - total);
    }
    chosen
}

/// Keeps priorities bounded: scales them down when their spread exceeds
/// [`PRIORITY_SPREAD_TOTALS`] × total, then centres them on zero (CometBFT's rescale and shift).
fn normalize(priorities: &mut BTreeMap<Address, i64>, set: &ValidatorSet) {
    let total = i128::from(set.total_power());
    let values: Vec<i128> = set
        .validators()
        .iter()
        .map(|v| i128::from(priorities.get(&v.address).copied().unwrap_or(0)))
        .collect();
    let (Some(min), Some(max)) = (values.iter().min(), values.iter().max()) else {
        return;
    };
    let limit = PRIORITY_SPREAD_TOTALS * total;
    let ratio = if max - min > limit && limit > 0 {
        (max - min + limit - 1) / limit
    } else {
        1
    };
    let n = values.len() as i128;
    let average = values.iter().map(|p| p / ratio).sum::<i128>().div_euclid(n);
    for v in set.validators() {
        let p = priorities.entry(v.address).or_insert(0);
        *p = clamp(i128::from(*p) / ratio - average);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consensus::context::Validator;

    fn addr(i: u8) -> Address {
        Address([i; 32])
    }

    fn set(powers: &[u64]) -> ValidatorSet {
        ValidatorSet::new(
            powers
                .iter()
                .enumerate()
                .map(|(i, p)| Validator {
                    address: addr(i as u8 + 1),
                    voting_power: *p,
                })
                .collect(),
        )
        .unwrap()
    }

    /// Runs `heights` heights where everyone alive builds its turn; `dead` never does.
    fn run(s: &ValidatorSet, heights: u64, dead: Option<Address>) -> (LeaderState, Vec<u32>) {
        let mut state = LeaderState::default();
        let mut rounds = Vec::new();
        for h in 1..=heights {
            let mut round = 0;
            let builder = loop {
                let p = state.proposer(s, h, round);
                if Some(p) != dead {
                    break p;
                }
                round += 1;
            };
            rounds.push(round);
            state = state.advance(s, h, &builder, s);
            assert_eq!(state.height, h + 1);
        }
        (state, rounds)
    }

    #[test]
    fn proposers_follow_stake() {
        let s = set(&[1, 2, 3, 4]);
        let (state, rounds) = run(&s, 1000, None);
        assert!(rounds.iter().all(|r| *r == 0));
        for (i, power) in [1u64, 2, 3, 4].iter().enumerate() {
            let proposed = state.records[&addr(i as u8 + 1)].proposed;
            assert_eq!(proposed, 100 * power, "validator {i}");
        }
    }

    #[test]
    fn a_dead_validator_is_skipped_for_longer_each_time() {
        let s = set(&[1, 1, 1, 1]);
        let (state, rounds) = run(&s, 2000, Some(addr(2)));
        let failures: usize = rounds.iter().filter(|r| **r > 0).count();
        // Round robin would fail every 4th height (500 times); the doubling window a handful.
        assert!(failures <= 8, "{failures} failed rounds");
        let r = state.records[&addr(2)];
        assert_eq!(r.proposed, 0);
        assert_eq!(r.missed_proposals, failures as u64);
        // Once alive again it proposes when its window ends and is forgiven.
        let mut state = state;
        let mut back = false;
        for h in 2001..=2001 + (SKIP_HEIGHTS_BASE << SKIP_DOUBLINGS_MAX) {
            let p = state.proposer(&s, h, 0);
            back |= p == addr(2);
            state = state.advance(&s, h, &p, &s);
        }
        assert!(back);
        assert_eq!(state.records[&addr(2)].failures_in_a_row, 0);
    }

    #[test]
    fn never_everyone_is_skipped_and_priorities_stay_bounded() {
        let s = set(&[5, 1_000_000_000]);
        let mut state = LeaderState::default();
        for v in s.validators() {
            state.records.insert(
                v.address,
                LeaderRecord {
                    skipped_until: 100,
                    ..LeaderRecord::default()
                },
            );
        }
        let p = state.proposer(&s, 1, 0);
        assert!(s.get(&p).is_some());
        let (state, _) = run(&s, 10_000, None);
        let spread =
            state.priorities.values().max().unwrap() - state.priorities.values().min().unwrap();
        assert!(
            i128::from(spread) <= 3 * i128::from(s.total_power()),
            "{spread}"
        );
    }

    #[test]
    fn memoized_turns_equal_the_schedule_in_any_order() {
        let s = set(&[3, 1, 4, 1, 5]);
        let (state, _) = run(&s, 37, Some(addr(2)));
        let height = state.height;
        let mut turns = Turns::default();
        for round in [7u32, 0, 3, 12, 1, 12, 30] {
            assert_eq!(
                state.turn(&s, height, round, &mut turns),
                state.proposer(&s, height, round),
                "round {round}"
            );
        }
    }

    #[test]
    fn newcomers_start_below_everyone() {
        let before = set(&[1, 1, 1]);
        let after = set(&[1, 1, 1, 1]);
        let state = LeaderState::default().advance(&before, 1, &addr(1), &after);
        let newcomer = state.priorities[&addr(4)];
        assert!(state
            .priorities
            .iter()
            .filter(|(a, _)| **a != addr(4))
            .all(|(_, p)| *p > newcomer));
        assert_ne!(state.proposer(&after, 2, 0), addr(4));
    }
}
