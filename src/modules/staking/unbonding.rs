//! Unbonding stake and slashing: the per-height queues of stake on its way back to balances
//! (recorded under the validator it left), each validator's index of the heights at which such
//! stake is pending, and the slash that reaches both the pool and that stake.
//!
//! Invariants: an entry of height `r` in a validator's index means the queue of `r` may hold
//! stake that left it; every pending queue entry's height is in its validator's index (so a slash
//! finds it); indexes are ascending, distinct and at most `RELEASE_HEIGHTS_MAX` long; queues and
//! indexes that become empty are deleted.

use super::state::{StakeKey, StakeValue, Unbonding, UnbondingOwner, RELEASE_HEIGHTS_MAX};
use super::{delegation, set_shares, shares, stake_get, stake_set, BPS_MAX};
use crate::execution::{BlockEnv, ChainParams, Overlay, StateView};
use crate::modules::banking::native::credit;
use crate::types::{Address, Amount, Height, Registry};

/// The release heights of stake that left `validator`, from `from` on (those before it have
/// released).
pub(super) fn release_heights<V: StateView>(
    overlay: &mut Overlay<'_, V>,
    validator: Address,
    from: Height,
) -> Result<Vec<Height>, V::Error> {
    Ok(
        match stake_get(overlay, &StakeKey::ReleaseHeights { validator })? {
            Some(StakeValue::Heights(mut heights)) => {
                heights.retain(|h| *h >= from);
                heights
            }
            _ => Vec::new(),
        },
    )
}

pub(super) fn set_release_heights<V: StateView>(
    overlay: &mut Overlay<'_, V>,
    validator: Address,
    heights: Vec<Height>,
) {
    debug_assert!(heights.len() <= RELEASE_HEIGHTS_MAX);
    debug_assert!(heights.windows(2).all(|w| w[0] < w[1]));
    stake_set(
        overlay,
        StakeKey::ReleaseHeights { validator },
        (!heights.is_empty()).then_some(StakeValue::Heights(heights)),
    );
}

fn queue<V: StateView>(
    overlay: &mut Overlay<'_, V>,
    release_height: Height,
) -> Result<Unbonding, V::Error> {
    Ok(
        match stake_get(overlay, &StakeKey::Unbonding { release_height })? {
            Some(StakeValue::Unbonding(u)) => u,
            _ => Unbonding::default(),
        },
    )
}

fn set_queue<V: StateView>(overlay: &mut Overlay<'_, V>, release_height: Height, q: Unbonding) {
    stake_set(
        overlay,
        StakeKey::Unbonding { release_height },
        (!q.0.is_empty()).then_some(StakeValue::Unbonding(q)),
    );
}

/// Burns the shares worth `amount` of `owner`'s stake with `validator` and queues the tokens for
/// the end of block `height + unbonding_blocks`, recorded under the validator they left.
pub(super) fn undelegate<V: StateView>(
    overlay: &mut Overlay<'_, V>,
    params: &ChainParams,
    env: &BlockEnv,
    reg: &mut Registry,
    validator: Address,
    owner: Address,
    amount: Amount,
) -> Result<(), V::Error> {
    let key = delegation(validator, owner);
    let held = shares(overlay, &key)?;
    let v = reg.validators.get_mut(&validator).expect("checked above");
    // Round the shares burned up, so the pool never pays out more than they are worth.
    let burn = (u128::from(amount) * v.shares)
        .div_ceil(u128::from(v.tokens).max(1))
        .min(held);
    v.shares -= burn;
    v.tokens -= amount;
    set_shares(overlay, key, held - burn);
    let release_height = env.height + params.staking.unbonding_blocks;
    let mut q = queue(overlay, release_height)?;
    let owed = q.0.entry(UnbondingOwner { owner, validator }).or_insert(0);
    *owed = owed
        .checked_add(amount)
        .expect("supply fits in u64 (genesis guarantees)");
    set_queue(overlay, release_height, q);
    let mut heights = release_heights(overlay, validator, env.height)?;
    if heights.last() != Some(&release_height) {
        heights.push(release_height);
    }
    set_release_heights(overlay, validator, heights);
    Ok(())
}

/// Slashes and jails a double signer: `slash_bps` of its pool is burned, and of the stake that
/// left it at or after the offence's height and is still unbonding (it was bonded when the
/// offence happened).
pub(super) fn slash<V: StateView>(
    overlay: &mut Overlay<'_, V>,
    params: &ChainParams,
    env: &BlockEnv,
    reg: &mut Registry,
    culprit: Address,
    offence_height: Height,
) -> Result<(), V::Error> {
    let part = |amount: Amount| {
        u64::try_from(
            u128::from(amount) * u128::from(params.staking.slash_bps) / u128::from(BPS_MAX),
        )
        .expect("at most the amount")
    };
    let v = reg.validators.get_mut(&culprit).expect("checked above");
    let burned = part(v.tokens);
    v.tokens -= burned;
    v.jailed = true;
    reg.reelect = true;
    let mut burned_unbonding: Amount = 0;
    let unbonding_blocks = params.staking.unbonding_blocks;
    let heights = release_heights(overlay, culprit, env.height)?;
    for &release_height in &heights {
        if release_height.saturating_sub(unbonding_blocks) < offence_height {
            continue; // it left before the offence
        }
        let mut q = queue(overlay, release_height)?;
        for (who, amount) in q.0.iter_mut() {
            if who.validator == culprit {
                let cut = part(*amount);
                *amount -= cut;
                burned_unbonding += cut;
            }
        }
        q.0.retain(|_, amount| *amount > 0);
        set_queue(overlay, release_height, q);
    }
    set_release_heights(overlay, culprit, heights);
    tracing::warn!(validator = %culprit, burned, burned_unbonding, "validator slashed and jailed for double signing");
    Ok(())
}

/// The end of block `env.height`: the stake of its queue returns to its owners' balances.
pub(super) fn release<V: StateView>(
    overlay: &mut Overlay<'_, V>,
    env: &BlockEnv,
) -> Result<(), V::Error> {
    let released = queue(overlay, env.height)?;
    if released.0.is_empty() {
        return Ok(());
    }
    let mut left = std::collections::BTreeSet::new();
    for (who, amount) in &released.0 {
        credit(overlay, &who.owner, *amount)?;
        left.insert(who.validator);
    }
    set_queue(overlay, env.height, Unbonding::default());
    for validator in left {
        let heights = release_heights(overlay, validator, env.height + 1)?;
        set_release_heights(overlay, validator, heights);
    }
    Ok(())
}
