//! What a clustered node adds to the status endpoint beyond Raft: each member's gossip state
//! and advertised figures. The node implements [`GossipView`]; the API only shows it.

use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Gossip's report on one member.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GossipReport {
    /// Whether gossip holds the member down (its own Raft status is then not asked for).
    pub down: bool,
    /// Fields merged into the member's entry of `GET /tessera/v1/cluster`.
    pub fields: Map<String, Value>,
}

/// Source of [`GossipReport`]s.
pub trait GossipView: Send + Sync + 'static {
    /// The report on each of `members` (Raft node ids).
    fn reports(&self, members: &[u64]) -> BTreeMap<u64, GossipReport>;
}
