//! The full repair pass: every chunk a live image references brought to a copy on each of
//! its placement targets now, local orphans counted (the reaper deletes them).

use std::collections::BTreeMap;

use tessera_domain::DomainError;
use tessera_raft::Meta;
use tessera_replication::worker::named;
use tessera_replication::{Data, LiveChunks, RepairReport};

use super::job::JobOutcome;
use crate::wiring::{LiveChunksError, MetaLiveChunks};

/// Runs one pass; `phase` hears when the live set is known (half way).
pub async fn repair_pass(
    meta: Meta,
    data: Data,
    phase: impl Fn(f64),
) -> Result<RepairReport, DomainError> {
    let manifests = MetaLiveChunks(meta)
        .live_manifests()
        .await
        .map_err(|e| match e {
            LiveChunksError::Meta(e) => DomainError::Meta(e),
            LiveChunksError::Imports(e) => e,
            e @ LiveChunksError::BadManifestId(_) => DomainError::Internal(e.to_string()),
        })?;
    tracing::info!(manifests = manifests.len(), "repair pass: live set read");
    phase(0.5);
    let report = data.repair_referenced(manifests).await?;
    tracing::info!(?report, "repair pass done");
    Ok(report)
}

impl JobOutcome for RepairReport {
    fn bytes(&self) -> u64 {
        self.bytes
    }

    fn counters(&self) -> BTreeMap<String, u64> {
        named([
            ("manifests", self.manifests),
            ("referenced", self.referenced),
            ("copies_checked", self.copies_checked),
            ("missing", self.missing),
            ("repaired", self.repaired),
            ("failed", self.failed),
            ("unavailable", self.unavailable.len() as u64),
            ("orphans", self.orphans),
        ])
    }
}
