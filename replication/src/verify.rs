//! Checking every copy of one manifest (the manifest and each of its chunks, on each of their
//! placement targets), for `tessera chunks verify --image`: [`Data::check_manifest`] and the
//! tally it returns, [`CopiesCheck`].

use std::collections::BTreeMap;

use futures::StreamExt;
use serde::Serialize;

use crate::data::Data;
use crate::error::DataError;
use crate::id::ChunkId;
use crate::loops::auditor::ChunkHealth;

/// Chunk copies checked at once.
const CONCURRENCY: usize = 8;

/// One copy that is not valid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CopyProblem {
    /// The chunk.
    pub chunk: ChunkId,
    /// The node that should hold it.
    pub node: u64,
    /// `missing`, `corrupt` or `unreachable`.
    pub state: &'static str,
    /// Why the node could not be asked (unreachable copies only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What checking every copy of a manifest found. Bad copies were quarantined and queued for
/// repair by the check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CopiesCheck {
    /// Distinct chunks checked, the manifest included.
    pub chunks: usize,
    /// Copies checked (chunks times their placement targets).
    pub copies: usize,
    /// Per node (its id as text), the count of copies in each state.
    pub nodes: BTreeMap<String, BTreeMap<&'static str, u64>>,
    /// Every copy that is not valid.
    pub problems: Vec<CopyProblem>,
    /// Whether every copy was valid.
    pub ok: bool,
}

impl ChunkHealth {
    /// The state's name, as reports show it.
    pub fn state(&self) -> &'static str {
        match self {
            ChunkHealth::Valid => "valid",
            ChunkHealth::Missing => "missing",
            ChunkHealth::Corrupt => "corrupt",
            ChunkHealth::Unreachable(_) => "unreachable",
        }
    }
}

impl Data {
    /// Checks manifest `manifest_id` and each of its chunks on every placement target.
    pub async fn check_manifest(&self, manifest_id: ChunkId) -> Result<CopiesCheck, DataError> {
        let manifest = self.manifest(&manifest_id).await?;
        let mut chunks = vec![manifest_id];
        for e in manifest.entries() {
            if !chunks.contains(&e.id) {
                chunks.push(e.id);
            }
        }
        let copies: Vec<(ChunkId, u64)> = chunks
            .iter()
            .flat_map(|id| self.placement(id).into_iter().map(move |n| (*id, n)))
            .collect();
        let results: Vec<(ChunkId, u64, ChunkHealth)> = futures::stream::iter(copies)
            .map(|(id, node)| async move { (id, node, self.check_chunk_on(node, id).await) })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        let mut nodes: BTreeMap<String, BTreeMap<&'static str, u64>> = BTreeMap::new();
        let mut problems = Vec::new();
        for (chunk, node, health) in &results {
            let state = health.state();
            *nodes
                .entry(node.to_string())
                .or_default()
                .entry(state)
                .or_default() += 1;
            if *health != ChunkHealth::Valid {
                problems.push(CopyProblem {
                    chunk: *chunk,
                    node: *node,
                    state,
                    reason: match health {
                        ChunkHealth::Unreachable(reason) => Some(reason.clone()),
                        _ => None,
                    },
                });
            }
        }
        Ok(CopiesCheck {
            chunks: chunks.len(),
            copies: results.len(),
            nodes,
            ok: problems.is_empty(),
            problems,
        })
    }
}
