//! Missed votes per validator, as this node saw them: after a height is decided, the precommits
//! for it that still arrive (a validator slower than the quorum is not absent) are noted until the
//! next height is decided; then the height is counted — a validator of its set signed if the
//! commit certificate or a late precommit of that height (signature checked) carries its
//! signature, else it missed ([`crate::metrics::VoteRecords`], `mamey_getValidators`
//! `missed_votes`, Prometheus `mamey_validator_missed_votes`).
//!
//! Node-local, not consensus state: certificates differ between nodes (each holds the precommits
//! that reached it), so the counts are this node's view since it started.

use std::collections::BTreeSet;

use crate::consensus::context::{vote_signature_ok, ChainTag, SignedVote, ValidatorSet, VoteType};
use crate::consensus::engine::Decision;
use crate::metrics::PipelineMetrics;
use crate::types::Address;

/// The last decided height's precommits, while late ones may still arrive.
pub(super) struct VoteWatch {
    height: u64,
    set: Vec<Address>,
    signed: BTreeSet<Address>,
}

impl VoteWatch {
    /// Watches the precommits of `d`, decided with `set`.
    pub(super) fn new(d: &Decision, set: &ValidatorSet) -> Self {
        VoteWatch {
            height: d.height.0,
            set: set
                .validators()
                .iter()
                .map(|v| Address(v.address.0))
                .collect(),
            signed: d
                .certificate
                .commit_signatures
                .iter()
                .map(|s| Address(s.address.0))
                .collect(),
        }
    }

    /// Notes a precommit that arrived after the decision, if it is one of this height's by a
    /// validator of its set not counted yet, and its signature holds.
    pub(super) fn note(&mut self, chain: &ChainTag, v: &SignedVote) {
        let m = &v.message;
        let who = Address(m.validator.0);
        if m.height.0 != self.height
            || m.kind != VoteType::Precommit
            || self.signed.contains(&who)
            || !self.set.contains(&who)
        {
            return;
        }
        if vote_signature_ok(chain, v) {
            self.signed.insert(who);
        }
    }

    /// Counts the height into `metrics`.
    pub(super) fn close(self, metrics: &PipelineMetrics) {
        for (validator, r) in metrics.votes.count(&self.set, &self.signed) {
            metrics
                .telemetry
                .set_vote_record(validator.to_string(), r.signed, r.missed);
        }
    }
}
