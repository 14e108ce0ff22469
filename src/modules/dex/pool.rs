//! Constant-product pools beside the books (Uniswap v2's x·y = k): one pool per market, its
//! reserves held by the market's vault, liquidity providers' shares kept per owner, and the
//! arithmetic of swaps against it. Pure functions of the pool: `apply` settles the funds.
//!
//! Rounding is always in the pool's favour: shares minted round down, amounts paid in round up,
//! amounts paid out round down, so `base × quote` never decreases. The first deposit locks
//! [`MINIMUM_SHARES`] shares that nobody owns (as Uniswap v2 burns them), so that the pool can
//! never be drained to a price an attacker chooses.

use crate::codec::{put_u128, put_u32, Decode, DecodeError, Encode, Reader};

use super::book::BPS;

/// Shares locked by the first deposit.
pub const MINIMUM_SHARES: u128 = 1_000;
/// Largest reserve of either asset: products of two reserves stay within `u128`.
pub const RESERVE_MAX: u128 = 1 << 62;

/// A market's pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pool {
    /// Base units held.
    pub base: u128,
    /// Quote units held.
    pub quote: u128,
    /// Shares outstanding (the locked minimum included).
    pub shares: u128,
    /// Swap fee, basis points of what is paid in; it stays in the pool.
    pub fee_bps: u32,
}

impl Encode for Pool {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put_u128(out, self.base);
        put_u128(out, self.quote);
        put_u128(out, self.shares);
        put_u32(out, self.fee_bps);
    }
}

impl Decode for Pool {
    const WHAT: &'static str = "pool";
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Pool {
            base: r.u128("pool base")?,
            quote: r.u128("pool quote")?,
            shares: r.u128("pool shares")?,
            fee_bps: r.u32("pool fee")?,
        })
    }
}

/// A liquidity provider's shares in one pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Shares(pub u128);

impl Encode for Shares {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put_u128(out, self.0);
    }
}

impl Decode for Shares {
    const WHAT: &'static str = "pool shares";
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Shares(r.u128("shares")?))
    }
}

/// `floor(sqrt(n))`.
pub fn isqrt(n: u128) -> u128 {
    if n < 2 {
        return n;
    }
    // Newton's method from a power of two above the root: decreasing to the floor.
    let mut x = 1u128 << (128 - n.leading_zeros()).div_ceil(2);
    loop {
        let y = (x + n / x) / 2;
        if y >= x {
            return x;
        }
        x = y;
    }
}

fn mul_div_floor(a: u128, b: u128, c: u128) -> Option<u128> {
    a.checked_mul(b).map(|p| p / c)
}

fn mul_div_ceil(a: u128, b: u128, c: u128) -> Option<u128> {
    a.checked_mul(b).map(|p| p.div_ceil(c))
}

/// A deposit: the shares it mints and what it takes (at most what was offered, in the pool's
/// ratio). `None`: nothing to mint, or amounts past [`RESERVE_MAX`].
pub fn deposit(pool: &Pool, base_max: u128, quote_max: u128) -> Option<(u128, u128, u128)> {
    if pool.shares == 0 {
        let minted = isqrt(base_max.checked_mul(quote_max)?);
        if minted <= MINIMUM_SHARES || base_max > RESERVE_MAX || quote_max > RESERVE_MAX {
            return None;
        }
        // The caller's shares; MINIMUM_SHARES more are outstanding and owned by nobody.
        return Some((minted - MINIMUM_SHARES, base_max, quote_max));
    }
    let by_base = mul_div_floor(base_max, pool.shares, pool.base)?;
    let by_quote = mul_div_floor(quote_max, pool.shares, pool.quote)?;
    let shares = by_base.min(by_quote);
    if shares == 0 {
        return None;
    }
    let base = mul_div_ceil(shares, pool.base, pool.shares)?;
    let quote = mul_div_ceil(shares, pool.quote, pool.shares)?;
    if base > base_max || quote > quote_max {
        return None;
    }
    if pool.base + base > RESERVE_MAX || pool.quote + quote > RESERVE_MAX {
        return None;
    }
    Some((shares, base, quote))
}

/// A withdrawal of `shares`: the base and quote it pays out (rounded down).
pub fn withdraw(pool: &Pool, shares: u128) -> Option<(u128, u128)> {
    if shares == 0 || shares > pool.shares {
        return None;
    }
    Some((
        mul_div_floor(shares, pool.base, pool.shares)?,
        mul_div_floor(shares, pool.quote, pool.shares)?,
    ))
}

/// Quote paid in for exactly `base_out` base units out (Uniswap v2's getAmountIn, fee on the
/// amount in, rounded up). `None` when the pool cannot pay it.
pub fn quote_in_for(pool: &Pool, base_out: u128) -> Option<u128> {
    if base_out == 0 || base_out >= pool.base {
        return None;
    }
    let fee = BPS - u128::from(pool.fee_bps);
    let num = pool.quote.checked_mul(base_out)?.checked_mul(BPS)?;
    let den = (pool.base - base_out).checked_mul(fee)?;
    Some(num / den + 1)
}

/// Quote paid out for exactly `base_in` base units in (getAmountOut, rounded down).
pub fn quote_out_for(pool: &Pool, base_in: u128) -> Option<u128> {
    if base_in == 0 {
        return None;
    }
    let fee = BPS - u128::from(pool.fee_bps);
    let in_with_fee = base_in.checked_mul(fee)?;
    let num = in_with_fee.checked_mul(pool.quote)?;
    let den = pool.base.checked_mul(BPS)?.checked_add(in_with_fee)?;
    Some(num / den)
}

/// Lots (of `lot` base units) a buyer can take from the pool before its price per lot, fee
/// included, passes `price` (quote per lot): at least 0, and never the whole reserve.
pub fn lots_to_buy_up_to(pool: &Pool, lot: u128, price: u64) -> u128 {
    if pool.base == 0 || price == 0 {
        return 0;
    }
    // After buying, reserves (B', Q') with Q'·B' ≥ k and a marginal price Q'·lot/B' (plus the
    // fee) at most `price`: B' ≥ sqrt(k · lot · (1 - fee) / price). Rounded so that the last lot
    // taken is never dearer than `price` (checked exactly by the caller with quote_in_for).
    let fee = BPS - u128::from(pool.fee_bps);
    let Some(k) = pool.base.checked_mul(pool.quote) else {
        return 0;
    };
    let Some(scaled) = k.checked_mul(lot).and_then(|v| v.checked_mul(BPS)) else {
        return 0;
    };
    let floor_b = isqrt(scaled / (u128::from(price) * fee).max(1)) + 1;
    pool.base.saturating_sub(floor_b) / lot
}

/// Lots a seller can sell into the pool before its price per lot, fee taken, falls below
/// `price`.
pub fn lots_to_sell_down_to(pool: &Pool, lot: u128, price: u64) -> u128 {
    if pool.quote == 0 || price == 0 {
        return 0;
    }
    // After selling, B' ≤ sqrt(k · lot · (1 - fee) / price).
    let fee = BPS - u128::from(pool.fee_bps);
    let Some(k) = pool.base.checked_mul(pool.quote) else {
        return 0;
    };
    let Some(scaled) = k.checked_mul(lot).and_then(|v| v.checked_mul(fee)) else {
        return 0;
    };
    let ceil_b = isqrt(scaled / (u128::from(price) * BPS));
    ceil_b.saturating_sub(pool.base) / lot
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Deposit(u64, u64),
        Withdraw(u64),
        Buy(u64),
        Sell(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (1..1_000_000u64, 1..1_000_000u64).prop_map(|(b, q)| Op::Deposit(b, q)),
            (1..2_000_000u64).prop_map(Op::Withdraw),
            (1..50_000u64).prop_map(Op::Buy),
            (1..50_000u64).prop_map(Op::Sell),
        ]
    }

    proptest! {
        /// The pool's invariant: what one share is worth, sqrt(base × quote) / shares, never
        /// falls, whatever deposits, withdrawals and swaps do (rounding favours the pool), and
        /// the reserves are never drained to zero while shares are outstanding.
        #[test]
        fn a_share_never_loses_value(ops in proptest::collection::vec(op(), 1..60)) {
            let mut p = Pool { fee_bps: 30, ..Pool::default() };
            for o in ops {
                let before = p;
                match o {
                    Op::Deposit(b, q) => {
                        if let Some((minted, base, quote)) = deposit(&p, b.into(), q.into()) {
                            p.shares += minted + if p.shares == 0 { MINIMUM_SHARES } else { 0 };
                            p.base += base;
                            p.quote += quote;
                        }
                    }
                    Op::Withdraw(s) => {
                        // Never the locked minimum.
                        let s = u128::from(s).min(p.shares.saturating_sub(MINIMUM_SHARES));
                        if let Some((base, quote)) = withdraw(&p, s) {
                            p.shares -= s;
                            p.base -= base;
                            p.quote -= quote;
                        }
                    }
                    Op::Buy(out) => {
                        if let Some(q) = quote_in_for(&p, out.into()) {
                            p.base -= u128::from(out);
                            p.quote += q;
                        }
                    }
                    Op::Sell(inp) => {
                        if let Some(q) = quote_out_for(&p, inp.into()).filter(|q| *q < p.quote) {
                            p.base += u128::from(inp);
                            p.quote -= q;
                        }
                    }
                }
                if before.shares > 0 && p.shares > 0 {
                    // k / shares² never falls: k' · s² ≥ k · s'² (exact in u128 at these sizes).
                    let (k0, k1) = (before.base * before.quote, p.base * p.quote);
                    prop_assert!(
                        k1 * before.shares * before.shares >= k0 * p.shares * p.shares,
                        "{before:?} -> {p:?}"
                    );
                    prop_assert!(p.base > 0 && p.quote > 0, "{p:?}");
                }
            }
        }
    }

    fn pool(base: u128, quote: u128) -> Pool {
        Pool {
            base,
            quote,
            shares: isqrt(base * quote),
            fee_bps: 30,
        }
    }

    #[test]
    fn isqrt_is_the_floor() {
        for n in [
            0u128,
            1,
            2,
            3,
            4,
            15,
            16,
            17,
            1 << 40,
            (1 << 64) - 1,
            u128::MAX,
        ] {
            let r = isqrt(n);
            assert!(r * r <= n, "{n}");
            assert!((r + 1).checked_mul(r + 1).map_or(true, |s| s > n), "{n}");
        }
    }

    #[test]
    fn deposits_and_withdrawals_round_for_the_pool() {
        let first = deposit(&Pool::default(), 1_000_000, 4_000_000).unwrap();
        assert_eq!(first, (2_000_000 - MINIMUM_SHARES, 1_000_000, 4_000_000));
        let p = Pool {
            base: 1_000_000,
            quote: 4_000_000,
            shares: 2_000_000,
            fee_bps: 30,
        };
        // Offered out of ratio: the shares of the scarcer side, and only what they are worth.
        let (shares, base, quote) = deposit(&p, 1_000, 10_000).unwrap();
        assert_eq!((shares, base, quote), (2_000, 1_000, 4_000));
        let (b, q) = withdraw(&p, 2_000).unwrap();
        assert_eq!((b, q), (1_000, 4_000));
        assert!(
            deposit(&Pool::default(), 10, 10).is_none(),
            "below the minimum"
        );
        assert!(withdraw(&p, 2_000_001).is_none());
    }

    #[test]
    fn swaps_keep_k_and_charge_the_fee() {
        let p = pool(1_000_000, 1_000_000);
        let paid = quote_in_for(&p, 1_000).unwrap();
        // Without a fee 1,001.001…; with 30 bps about 1,004.
        assert!((1_004..=1_005).contains(&paid), "{paid}");
        assert!((p.base - 1_000) * (p.quote + paid) >= p.base * p.quote);
        let got = quote_out_for(&p, 1_000).unwrap();
        assert!((995..=997).contains(&got), "{got}");
        assert!((p.base + 1_000) * (p.quote - got) >= p.base * p.quote);
        assert_eq!(quote_in_for(&p, p.base), None);
    }

    #[test]
    fn price_bounds_stop_where_the_book_is_better() {
        // Base 1,000,000 and quote 100,000,000: 100 quote per base unit, lots of 1.
        let p = pool(1_000_000, 100_000_000);
        let lots = lots_to_buy_up_to(&p, 1, 101);
        assert!(lots > 0);
        // The last lot bought from the pool costs at most 101; one more would cost more.
        let mut after = p;
        let paid = quote_in_for(&p, lots).unwrap();
        after.base -= lots;
        after.quote += paid;
        let next = quote_in_for(&after, 1).unwrap();
        assert!(next >= 101, "{next}");
        assert_eq!(
            lots_to_buy_up_to(&p, 1, 100),
            0,
            "the pool's own price plus its fee"
        );
        let lots = lots_to_sell_down_to(&p, 1, 99);
        assert!(lots > 0);
        assert_eq!(lots_to_sell_down_to(&p, 1, 100), 0);
    }
}
