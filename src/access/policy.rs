//! The policy table: the least role that may call each JSON-RPC method (REST routes call JSON-RPC
//! methods, so they follow the same rows), gRPC method and the metrics endpoint.
//!
//! Built in: admin for what reveals or changes the node's internals (pipeline statistics, the
//! metrics service, the peer list), submit for submission, read for everything else. `[access.policy]` overrides
//! rows by exact name or by a prefix ending in `*` (the longest prefix wins).

use std::collections::BTreeMap;

use super::Role;

/// The built-in rows that differ from `read`; a trailing `*` is a prefix.
pub const BUILT_IN: &[(&str, Role)] = &[
    ("mamey_pipelineStats", Role::Admin),
    ("/mamey.metrics.v1.MetricsService/*", Role::Admin),
    // Peers' addresses are the network's map; operators only.
    ("/mamey.network.v1.NetworkService/GetPeers", Role::Admin),
    ("mamey_sendTransaction", Role::Submit),
    ("/mamey.v1.NodeService/SubmitTransaction", Role::Submit),
];

/// The name the metrics endpoint goes by in the table.
pub const METRICS: &str = "metrics";

pub struct Policy {
    rows: BTreeMap<String, Role>,
}

fn lookup(rows: &BTreeMap<String, Role>, what: &str) -> Option<Role> {
    if let Some(r) = rows.get(what) {
        return Some(*r);
    }
    rows.iter()
        .filter_map(|(k, r)| {
            let prefix = k.strip_suffix('*')?;
            what.starts_with(prefix).then_some((prefix.len(), *r))
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, r)| r)
}

impl Policy {
    /// The built-in table with the operator's rows over it.
    pub fn new(overrides: &BTreeMap<String, Role>) -> Self {
        let mut rows: BTreeMap<String, Role> =
            BUILT_IN.iter().map(|(k, r)| (k.to_string(), *r)).collect();
        rows.extend(overrides.iter().map(|(k, r)| (k.clone(), *r)));
        Self { rows }
    }

    /// The least role that may call `what`. An operator's prefix row beats a built-in exact row
    /// only if the operator wrote no exact row and the prefix is the longest match.
    pub fn required(&self, what: &str) -> Role {
        lookup(&self.rows, what).unwrap_or(Role::Read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_rows_and_operator_overrides() {
        let p = Policy::new(&BTreeMap::new());
        assert_eq!(p.required("mamey_status"), Role::Read);
        assert_eq!(p.required("mamey_pipelineStats"), Role::Admin);
        assert_eq!(p.required("mamey_sendTransaction"), Role::Submit);
        assert_eq!(
            p.required("/mamey.metrics.v1.MetricsService/StreamMetrics"),
            Role::Admin
        );
        assert_eq!(p.required("/mamey.v1.NodeService/GetStatus"), Role::Read);
        let overrides = BTreeMap::from([
            ("compliance_*".to_string(), Role::Admin),
            ("compliance_isBlocked".to_string(), Role::Read),
            ("/mamey.v1.NodeService/*".to_string(), Role::Submit),
        ]);
        let p = Policy::new(&overrides);
        assert_eq!(p.required("compliance_report"), Role::Admin);
        assert_eq!(p.required("compliance_isBlocked"), Role::Read);
        assert_eq!(p.required("/mamey.v1.NodeService/GetStatus"), Role::Submit);
        // The built-in exact row still wins over the operator's prefix.
        assert_eq!(
            p.required("/mamey.v1.NodeService/SubmitTransaction"),
            Role::Submit
        );
    }
}
