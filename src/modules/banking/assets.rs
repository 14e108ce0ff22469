//! Issued assets: checks, declared state and apply of every asset call, and their events.
//!
//! Each call reads what it needs, checks, then writes; the runtime's savepoint undoes a multi-send
//! that fails at a later output. The sender's nonce and native fee are checked first and charged
//! last, so a refused call costs nothing and changes nothing.

use super::calls::{
    asset_id, AssetId, BankCall, Output, Renounce, DECIMALS_MAX, NAME_LEN_MAX, SYMBOL_LEN_MAX,
    URI_LEN_MAX,
};
use super::error::BankingError;
use super::events::BankingEvent;
use super::native::{check_sender, credit, debit_sender};
use super::state::{asset_key, holder_key, holding_key, AssetInfo, Holding};
use super::{Banking, BankingParams};
use crate::codec::{decode_exact, Encode};
use crate::execution::{Applied, BlockEnv, Overlay, StateView, TxError};
use crate::modules::hooks::{
    is_module_account, movement_access, on_movement, Movement, TravelRecord,
};
use crate::modules::{Access, Module};
use crate::types::{Address, AssetAmount, Event, Transaction};

/// The value of a step, or the refusal returned at once.
macro_rules! step {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return Ok(Err(e)),
        }
    };
}

/// The checks of an asset call that need no state.
pub(super) fn check_static(call: &BankCall, params: &BankingParams) -> Result<(), BankingError> {
    let positive = |a: AssetAmount| {
        if a == 0 {
            Err(BankingError::ZeroAmount)
        } else {
            Ok(())
        }
    };
    match call {
        BankCall::Transfer { .. } => Ok(()),
        BankCall::CreateAsset {
            symbol,
            name,
            decimals,
            max_supply,
            initial_supply,
            metadata_uri,
            ..
        } => {
            let symbol_ok = !symbol.is_empty()
                && symbol.len() <= SYMBOL_LEN_MAX
                && symbol
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
            if !symbol_ok {
                return Err(BankingError::InvalidSymbol(symbol.clone()));
            }
            if *decimals > DECIMALS_MAX {
                return Err(BankingError::InvalidDecimals(*decimals));
            }
            if name.len() > NAME_LEN_MAX || metadata_uri.len() > URI_LEN_MAX {
                return Err(BankingError::InvalidText);
            }
            if let Some(max) = max_supply {
                positive(*max)?;
                if initial_supply > max {
                    return Err(BankingError::MaxSupplyExceeded {
                        symbol: symbol.clone(),
                        supply: 0,
                        amount: *initial_supply,
                        max: *max,
                    });
                }
            }
            Ok(())
        }
        BankCall::Mint { amount, .. }
        | BankCall::Burn { amount, .. }
        | BankCall::TransferAsset { amount, .. }
        | BankCall::Clawback { amount, .. } => positive(*amount),
        BankCall::TransferWithTravel { amount, travel, .. } => {
            positive(*amount)?;
            let max = crate::modules::hooks::VASP_ID_LEN_MAX;
            let ok = |v: &str| !v.is_empty() && v.len() <= max && !v.chars().any(char::is_control);
            if !ok(&travel.originator_vasp) || !ok(&travel.beneficiary_vasp) {
                return Err(BankingError::InvalidTravelRecord { max });
            }
            Ok(())
        }
        BankCall::MultiSend { outputs } => {
            if outputs.is_empty() {
                return Err(BankingError::NoOutputs);
            }
            let max = params.multi_send_outputs_max as usize;
            if outputs.len() > max {
                return Err(BankingError::TooManyOutputs {
                    got: outputs.len(),
                    max,
                });
            }
            for o in outputs {
                positive(o.amount)?;
                if o.asset.is_none() && u64::try_from(o.amount).is_err() {
                    return Err(BankingError::AmountOverflow {
                        symbol: "native".into(),
                    });
                }
            }
            Ok(())
        }
        BankCall::UpdateMetadata {
            name, metadata_uri, ..
        } => {
            if name.len() > NAME_LEN_MAX || metadata_uri.len() > URI_LEN_MAX {
                return Err(BankingError::InvalidText);
            }
            Ok(())
        }
        BankCall::SetFrozen { .. }
        | BankCall::SetGlobalFrozen { .. }
        | BankCall::SetAuthorized { .. }
        | BankCall::SetIssuer { .. }
        | BankCall::Renounce { .. } => Ok(()),
    }
}

/// The state a banking call may touch (besides the sender's account and the proposer's fee):
/// its own, and the transfer hook's for every movement (declared from the settled state).
pub(super) fn access<S: StateView>(
    call: &BankCall,
    sender: &Address,
    settled: &S,
) -> Result<Access, S::Error> {
    let mut accounts = Vec::new();
    let mut reads = Vec::new();
    let mut writes = Vec::new();
    let hook = |reads: &mut Vec<_>, writes: &mut Vec<_>, asset, from, to| {
        movement_access(settled, asset, from, to, reads, writes)
    };
    // A holding and its index entry are written together.
    let holder = |writes: &mut Vec<_>, asset: &AssetId, who: &Address| {
        writes.push(holding_key(asset, who));
        writes.push(holder_key(asset, who));
    };
    match call {
        BankCall::Transfer { to, .. } => accounts.push(*to),
        BankCall::CreateAsset {
            symbol,
            initial_supply,
            ..
        } => {
            let id = asset_id(sender, symbol);
            writes.push(asset_key(&id));
            holder(&mut writes, &id, sender);
            // The initial supply is a mint to the issuer: it passes the hook.
            if *initial_supply > 0 {
                hook(&mut reads, &mut writes, &id, None, Some(sender))?;
            }
        }
        BankCall::Mint { asset, to, .. } => {
            writes.push(asset_key(asset));
            holder(&mut writes, asset, to);
            hook(&mut reads, &mut writes, asset, None, Some(to))?;
        }
        BankCall::Burn { asset, .. } => {
            writes.push(asset_key(asset));
            holder(&mut writes, asset, sender);
            hook(&mut reads, &mut writes, asset, Some(sender), None)?;
        }
        BankCall::Clawback { asset, from, .. } => {
            writes.push(asset_key(asset));
            holder(&mut writes, asset, from);
            hook(&mut reads, &mut writes, asset, Some(from), None)?;
        }
        BankCall::TransferAsset { asset, to, .. }
        | BankCall::TransferWithTravel { asset, to, .. } => {
            reads.push(asset_key(asset));
            holder(&mut writes, asset, sender);
            holder(&mut writes, asset, to);
            hook(&mut reads, &mut writes, asset, Some(sender), Some(to))?;
        }
        BankCall::MultiSend { outputs } => {
            for o in outputs {
                match &o.asset {
                    None => accounts.push(o.to),
                    Some(asset) => {
                        reads.push(asset_key(asset));
                        holder(&mut writes, asset, sender);
                        holder(&mut writes, asset, &o.to);
                        hook(&mut reads, &mut writes, asset, Some(sender), Some(&o.to))?;
                    }
                }
            }
        }
        BankCall::SetFrozen {
            asset, holder: h, ..
        }
        | BankCall::SetAuthorized {
            asset, holder: h, ..
        } => {
            reads.push(asset_key(asset));
            holder(&mut writes, asset, h);
        }
        BankCall::SetGlobalFrozen { asset, .. }
        | BankCall::SetIssuer { asset, .. }
        | BankCall::UpdateMetadata { asset, .. }
        | BankCall::Renounce { asset, .. } => writes.push(asset_key(asset)),
    }
    Ok(Access::Keys {
        accounts,
        reads,
        writes,
    })
}

/// Reads and writes of banking state through the overlay, and the events of one call.
struct Ctx<'o, 'v, V: StateView> {
    overlay: &'o mut Overlay<'v, V>,
    sender: Address,
    /// Block time, for the transfer hook.
    time_ms: u64,
    events: Vec<Event>,
    /// Holdings known to have their index entry (read as existing, or indexed by this call).
    indexed: Vec<(AssetId, Address)>,
}

type Step<T> = Result<T, BankingError>;

impl<V: StateView> Ctx<'_, '_, V> {
    fn asset(&mut self, id: &AssetId) -> Result<Step<AssetInfo>, V::Error> {
        Ok(match self.overlay.read(&asset_key(id))? {
            Some(bytes) => Ok(decode_exact::<AssetInfo>(&bytes, usize::MAX)
                .expect("assets in the state were encoded by this module")),
            None => Err(BankingError::UnknownAsset(*id)),
        })
    }

    fn set_asset(&mut self, id: &AssetId, info: &AssetInfo) {
        self.overlay.write(asset_key(id), Some(info.to_bytes()));
    }

    fn holding(&mut self, id: &AssetId, holder: &Address) -> Result<Holding, V::Error> {
        let Some(bytes) = self.overlay.read(&holding_key(id, holder))? else {
            return Ok(Holding::default());
        };
        // Every holding has its index entry: no need to look for it when this one is written.
        self.indexed.push((*id, *holder));
        Ok(decode_exact::<Holding>(&bytes, usize::MAX)
            .expect("holdings in the state were encoded by this module"))
    }

    /// Writes a holding, and its index entry when the holder is new to the asset.
    fn set_holding(&mut self, id: &AssetId, holder: &Address, h: &Holding) -> Result<(), V::Error> {
        if !self.indexed.contains(&(*id, *holder)) {
            let index = holder_key(id, holder);
            if self.overlay.read(&index)?.is_none() {
                self.overlay.write(index, Some(Vec::new()));
            }
            self.indexed.push((*id, *holder));
        }
        self.overlay
            .write(holding_key(id, holder), Some(h.to_bytes()));
        Ok(())
    }

    /// The runtime's transfer hook, after every check of the movement and before any write.
    fn hook(&mut self, m: &Movement<'_>) -> Result<Step<()>, V::Error> {
        Ok(match on_movement(self.overlay, self.time_ms, m)? {
            Ok(event) => {
                self.events.extend(event);
                Ok(())
            }
            Err(refusal) => Err(BankingError::Refused(refusal)),
        })
    }

    fn emit(&mut self, e: BankingEvent<'_>) {
        self.events.push(e.into_event());
    }

    fn require_issuer(&self, info: &AssetInfo) -> Step<()> {
        if info.issuer != self.sender {
            return Err(BankingError::NotIssuer {
                symbol: info.symbol.clone(),
                issuer: info.issuer,
                sender: self.sender,
            });
        }
        Ok(())
    }

    /// The issuer changes a flag of `holder`'s holding, which the asset's policy must allow
    /// (`allowed`): freezing needs `freezable`, authorizing `auth_required`.
    fn issuer_sets_holder(
        &mut self,
        id: &AssetId,
        holder: &Address,
        allowed: impl Fn(&super::calls::Policy) -> bool,
        refused: fn(String) -> BankingError,
        change: impl FnOnce(&mut Holding),
    ) -> Result<Step<()>, V::Error> {
        let info = match self.asset(id)? {
            Ok(i) => i,
            Err(e) => return Ok(Err(e)),
        };
        if let Err(e) = self.require_issuer(&info) {
            return Ok(Err(e));
        }
        if !allowed(&info.policy) {
            return Ok(Err(refused(info.symbol)));
        }
        let mut h = self.holding(id, holder)?;
        change(&mut h);
        self.set_holding(id, holder, &h)?;
        Ok(Ok(()))
    }

    /// Moves `amount` of `id` from `from` to `to` under the asset's policy; records its
    /// `transfer` event when `record` (a multi-send's outputs; a transfer call's is implied).
    #[allow(clippy::too_many_arguments)]
    fn transfer(
        &mut self,
        id: &AssetId,
        from: &Address,
        to: &Address,
        amount: AssetAmount,
        record: bool,
        travel: Option<&TravelRecord>,
    ) -> Result<Step<()>, V::Error> {
        let info = match self.asset(id)? {
            Ok(i) => i,
            Err(e) => return Ok(Err(e)),
        };
        let symbol = || info.symbol.clone();
        let (from_issuer, to_issuer) = (*from == info.issuer, *to == info.issuer);
        let mut src = self.holding(id, from)?;
        let freezable = info.policy.freezable;
        if freezable && info.global_frozen && !from_issuer && !to_issuer {
            return Ok(Err(BankingError::AssetFrozen { symbol: symbol() }));
        }
        if freezable && src.frozen && !to_issuer {
            return Ok(Err(BankingError::HolderFrozen {
                symbol: symbol(),
                holder: *from,
            }));
        }
        if src.amount < amount {
            return Ok(Err(BankingError::InsufficientAssetBalance {
                symbol: symbol(),
                holder: *from,
                held: src.amount,
                needed: amount,
            }));
        }
        // Every check before any write (a transfer runs without the runtime's savepoint). To
        // oneself, the recipient is the sender's holding as it is.
        let dst = if from == to {
            src
        } else {
            self.holding(id, to)?
        };
        if freezable && dst.frozen && !from_issuer {
            return Ok(Err(BankingError::HolderFrozen {
                symbol: symbol(),
                holder: *to,
            }));
        }
        // A module account holds for someone else: the final recipient's authorization is
        // checked when its module pays it out.
        if info.policy.auth_required && !to_issuer && !dst.authorized && !is_module_account(to) {
            return Ok(Err(BankingError::NotAuthorized {
                symbol: symbol(),
                holder: *to,
            }));
        }
        let movement = Movement::transfer(
            id,
            &info.issuer,
            from,
            to,
            amount,
            src.amount,
            dst.amount,
            travel,
        );
        step!(self.hook(&movement)?);
        if from != to {
            src.amount -= amount;
            let mut dst = dst;
            dst.amount = dst
                .amount
                .checked_add(amount)
                .expect("holdings sum to the supply, which fits in u128");
            self.set_holding(id, from, &src)?;
            self.set_holding(id, to, &dst)?;
        }
        if record {
            self.emit(BankingEvent::Transfer {
                asset: Some(id),
                from,
                to,
                amount,
            });
        }
        Ok(Ok(()))
    }

    /// Adds `amount` of `id` to `to`'s holding and to the supply.
    fn mint(
        &mut self,
        id: &AssetId,
        info: &mut AssetInfo,
        to: &Address,
        amount: AssetAmount,
    ) -> Result<Step<()>, V::Error> {
        let overflow = || BankingError::AmountOverflow {
            symbol: info.symbol.clone(),
        };
        let Some(supply) = info.supply.checked_add(amount) else {
            return Ok(Err(overflow()));
        };
        if let Some(max) = info.max_supply {
            if supply > max {
                return Ok(Err(BankingError::MaxSupplyExceeded {
                    symbol: info.symbol.clone(),
                    supply: info.supply,
                    amount,
                    max,
                }));
            }
        }
        let mut h = self.holding(id, to)?;
        if info.policy.auth_required && *to != info.issuer && !h.authorized {
            return Ok(Err(BankingError::NotAuthorized {
                symbol: info.symbol.clone(),
                holder: *to,
            }));
        }
        step!(self.hook(&Movement {
            asset: id,
            issuer: &info.issuer,
            from: None,
            to: Some(to),
            amount,
            from_after: 0,
            to_before: h.amount,
            to_after: h.amount + amount,
            travel: None,
        })?);
        h.amount += amount;
        info.supply = supply;
        self.set_holding(id, to, &h)?;
        self.emit(BankingEvent::Minted {
            asset: id,
            to,
            amount,
        });
        Ok(Ok(()))
    }

    /// Takes `amount` of `id` from `from` out of existence.
    fn destroy(
        &mut self,
        id: &AssetId,
        info: &mut AssetInfo,
        from: &Address,
        amount: AssetAmount,
    ) -> Result<Step<()>, V::Error> {
        let mut h = self.holding(id, from)?;
        if h.amount < amount {
            return Ok(Err(BankingError::InsufficientAssetBalance {
                symbol: info.symbol.clone(),
                holder: *from,
                held: h.amount,
                needed: amount,
            }));
        }
        step!(self.hook(&Movement {
            asset: id,
            issuer: &info.issuer,
            from: Some(from),
            to: None,
            amount,
            from_after: h.amount - amount,
            to_before: 0,
            to_after: 0,
            travel: None,
        })?);
        h.amount -= amount;
        info.supply -= amount;
        self.set_holding(id, from, &h)?;
        Ok(Ok(()))
    }
}

/// Applies an asset call (everything but the native transfer).
pub(super) fn apply<V: StateView>(
    overlay: &mut Overlay<'_, V>,
    env: &BlockEnv,
    tx: &Transaction,
    call: &BankCall,
) -> Result<Result<Applied, TxError>, V::Error> {
    let native = Banking::native_debit(call);
    let sender = match check_sender(overlay, tx, native)? {
        Ok(s) => s,
        Err(e) => return Ok(Err(e)),
    };
    // A multi-send's native outputs may pay the sender itself: debit first, so the credit lands
    // on the debited balance. Other calls touch no native balance, and are charged once they
    // succeed (a transfer, checked before it writes, then needs no savepoint).
    let multi_send = matches!(call, BankCall::MultiSend { .. });
    if multi_send {
        debit_sender(overlay, tx, sender, native);
    }
    let mut ctx = Ctx {
        overlay,
        sender: tx.sender,
        time_ms: env.time_ms,
        events: Vec::new(),
        indexed: Vec::new(),
    };
    if let Err(e) = apply_call(&mut ctx, env, call)? {
        return Ok(Err(e.into()));
    }
    let events = ctx.events;
    if !multi_send {
        debit_sender(overlay, tx, sender, native);
    }
    credit(overlay, &env.proposer, tx.fee)?;
    Ok(Ok(Applied {
        fee_paid: tx.fee,
        events,
        refused: None,
    }))
}

/// The call's own work, after the sender paid; a refusal is undone by the runtime's savepoint.
fn apply_call<V: StateView>(
    ctx: &mut Ctx<'_, '_, V>,
    env: &BlockEnv,
    call: &BankCall,
) -> Result<Step<()>, V::Error> {
    let sender = ctx.sender;
    match call {
        BankCall::Transfer { .. } => unreachable!("native transfers take the fast path"),
        BankCall::CreateAsset {
            symbol,
            name,
            decimals,
            max_supply,
            initial_supply,
            policy,
            metadata_uri,
        } => {
            let id = asset_id(&sender, symbol);
            if ctx.overlay.read(&asset_key(&id))?.is_some() {
                return Ok(Err(BankingError::AssetExists {
                    issuer: sender,
                    symbol: symbol.clone(),
                    id,
                }));
            }
            let mut info = AssetInfo {
                symbol: symbol.clone(),
                name: name.clone(),
                decimals: *decimals,
                max_supply: *max_supply,
                supply: 0,
                issuer: sender,
                policy: *policy,
                global_frozen: false,
                locked: false,
                metadata_uri: metadata_uri.clone(),
                created_height: env.height,
            };
            ctx.emit(BankingEvent::AssetCreated {
                asset: &id,
                info: &info,
            });
            if *initial_supply > 0 {
                step!(ctx.mint(&id, &mut info, &sender, *initial_supply)?);
            }
            ctx.set_asset(&id, &info);
        }
        BankCall::Mint { asset, to, amount } => {
            let mut info = step!(ctx.asset(asset)?);
            step!(ctx.require_issuer(&info));
            if !info.policy.mintable {
                return Ok(Err(BankingError::NotMintable {
                    symbol: info.symbol,
                }));
            }
            step!(ctx.mint(asset, &mut info, to, *amount)?);
            ctx.set_asset(asset, &info);
        }
        BankCall::Burn { asset, amount } => {
            let mut info = step!(ctx.asset(asset)?);
            if sender != info.issuer && !info.policy.holder_burnable {
                return Ok(Err(BankingError::NotBurnable {
                    symbol: info.symbol,
                }));
            }
            if info.policy.freezable && ctx.holding(asset, &sender)?.frozen {
                return Ok(Err(BankingError::HolderFrozen {
                    symbol: info.symbol,
                    holder: sender,
                }));
            }
            step!(ctx.destroy(asset, &mut info, &sender, *amount)?);
            ctx.set_asset(asset, &info);
            ctx.emit(BankingEvent::Burned {
                asset,
                from: &sender,
                amount: *amount,
            });
        }
        BankCall::Clawback {
            asset,
            from,
            amount,
        } => {
            let mut info = step!(ctx.asset(asset)?);
            step!(ctx.require_issuer(&info));
            if !info.policy.clawback {
                return Ok(Err(BankingError::NoClawback {
                    symbol: info.symbol,
                }));
            }
            step!(ctx.destroy(asset, &mut info, from, *amount)?);
            ctx.set_asset(asset, &info);
            ctx.emit(BankingEvent::Clawback {
                asset,
                from,
                amount: *amount,
            });
        }
        BankCall::TransferAsset { asset, to, amount } => {
            step!(ctx.transfer(asset, &sender, to, *amount, false, None)?);
        }
        BankCall::TransferWithTravel {
            asset,
            to,
            amount,
            travel,
        } => {
            step!(ctx.transfer(asset, &sender, to, *amount, false, Some(travel))?);
        }
        BankCall::MultiSend { outputs } => step!(multi_send(ctx, outputs)?),
        BankCall::SetFrozen {
            asset,
            holder,
            frozen,
        } => {
            step!(ctx.issuer_sets_holder(
                asset,
                holder,
                |p| p.freezable,
                |symbol| BankingError::NotFreezable { symbol },
                |h| h.frozen = *frozen
            )?);
            ctx.emit(BankingEvent::Frozen {
                asset,
                holder,
                frozen: *frozen,
            });
        }
        BankCall::SetGlobalFrozen { asset, frozen } => {
            let mut info = step!(ctx.asset(asset)?);
            step!(ctx.require_issuer(&info));
            if !info.policy.freezable {
                return Ok(Err(BankingError::NotFreezable {
                    symbol: info.symbol,
                }));
            }
            info.global_frozen = *frozen;
            ctx.set_asset(asset, &info);
            ctx.emit(BankingEvent::GlobalFrozen {
                asset,
                frozen: *frozen,
            });
        }
        BankCall::SetAuthorized {
            asset,
            holder,
            authorized,
        } => {
            step!(ctx.issuer_sets_holder(
                asset,
                holder,
                |p| p.auth_required,
                |symbol| BankingError::NoAuthRequired { symbol },
                |h| h.authorized = *authorized
            )?);
            ctx.emit(BankingEvent::Authorized {
                asset,
                holder,
                authorized: *authorized,
            });
        }
        BankCall::SetIssuer { asset, issuer } => {
            let mut info = step!(ctx.asset(asset)?);
            step!(ctx.require_issuer(&info));
            if info.locked {
                return Ok(Err(BankingError::Locked {
                    symbol: info.symbol,
                }));
            }
            let old = info.issuer;
            info.issuer = *issuer;
            ctx.set_asset(asset, &info);
            ctx.emit(BankingEvent::IssuerChanged {
                asset,
                from: &old,
                to: issuer,
            });
        }
        BankCall::UpdateMetadata {
            asset,
            name,
            metadata_uri,
        } => {
            let mut info = step!(ctx.asset(asset)?);
            step!(ctx.require_issuer(&info));
            if info.locked {
                return Ok(Err(BankingError::Locked {
                    symbol: info.symbol,
                }));
            }
            info.name = name.clone();
            info.metadata_uri = metadata_uri.clone();
            ctx.set_asset(asset, &info);
            ctx.emit(BankingEvent::MetadataUpdated { asset });
        }
        BankCall::Renounce { asset, what } => {
            let mut info = step!(ctx.asset(asset)?);
            step!(ctx.require_issuer(&info));
            match what {
                Renounce::Freeze => {
                    info.policy.freezable = false;
                    info.global_frozen = false;
                }
                Renounce::Mint => info.policy.mintable = false,
                Renounce::Changes => info.locked = true,
            }
            ctx.set_asset(asset, &info);
            ctx.emit(BankingEvent::Renounced { asset, what: *what });
        }
    }
    Ok(Ok(()))
}

/// Every output in order; the sender paid the native outputs' total with its fee.
fn multi_send<V: StateView>(
    ctx: &mut Ctx<'_, '_, V>,
    outputs: &[Output],
) -> Result<Step<()>, V::Error> {
    let sender = ctx.sender;
    for o in outputs {
        match &o.asset {
            None => {
                let amount = u64::try_from(o.amount).expect("check_static bounds native outputs");
                credit(ctx.overlay, &o.to, amount)?;
                ctx.emit(BankingEvent::Transfer {
                    asset: None,
                    from: &sender,
                    to: &o.to,
                    amount: o.amount,
                });
            }
            Some(asset) => {
                if let Err(e) = ctx.transfer(asset, &sender, &o.to, o.amount, true, None)? {
                    return Ok(Err(e));
                }
            }
        }
    }
    Ok(Ok(()))
}

/// Moves `amount` of the issued asset `id` from `from` to `to` for another module (payments,
/// escrow payouts): Banking's one transfer path, with the asset's policy and the transfer hook.
/// Checks everything before it writes; returns the hook's events, and the `transfer` event when
/// `record`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn transfer_for_module<V: StateView>(
    overlay: &mut Overlay<'_, V>,
    time_ms: u64,
    id: &AssetId,
    from: &Address,
    to: &Address,
    amount: AssetAmount,
    record: bool,
    travel: Option<&TravelRecord>,
) -> Result<Result<Vec<Event>, BankingError>, V::Error> {
    let mut ctx = Ctx {
        overlay,
        sender: *from,
        time_ms,
        events: Vec::new(),
        indexed: Vec::new(),
    };
    Ok(ctx
        .transfer(id, from, to, amount, record, travel)?
        .map(|()| ctx.events))
}

/// What [`transfer_for_module`] of `asset` from `from` to `to` may touch, added to another
/// module's declaration (from the settled state, as `Module::access`).
pub(crate) fn transfer_access<S: StateView>(
    settled: &S,
    asset: &AssetId,
    from: &Address,
    to: &Address,
    reads: &mut Vec<crate::types::StateKey>,
    writes: &mut Vec<crate::types::StateKey>,
) -> Result<(), S::Error> {
    reads.push(asset_key(asset));
    for who in [from, to] {
        writes.push(holding_key(asset, who));
        writes.push(holder_key(asset, who));
    }
    movement_access(settled, asset, Some(from), Some(to), reads, writes)
}
