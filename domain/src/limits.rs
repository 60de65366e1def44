//! Per-project unified limits (Glance's `use_keystone_limits`): where limits come from, which
//! checks each operation asks the state machine to make, and `GET /v2/info/usage`.
//!
//! The limits are read from a [`LimitSource`] (Keystone, implemented by `node`) by the node
//! taking the request; the usage they are compared with is counted by the state machine as
//! images change (`tessera_raft::usage`), inside the same apply as the change itself.

use crate::caller::Caller;
use crate::error::DomainError;
use crate::service::Glance;
use std::collections::BTreeMap;
use tessera_raft::{LimitCheck, Resource};

/// Where a project's limits are read from.
#[async_trait::async_trait]
pub trait LimitSource: Send + Sync + 'static {
    /// The limit of each of `resources` for `project` (a resource with no limit registered
    /// anywhere is 0, as oslo.limit has it).
    async fn limits(
        &self,
        project: &str,
        resources: &[Resource],
    ) -> Result<BTreeMap<Resource, u64>, String>;
}

/// One resource's line of `GET /v2/info/usage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceUsage {
    /// The resource.
    pub resource: Resource,
    /// The project's limit.
    pub limit: u64,
    /// Its usage, in the limit's unit.
    pub usage: u64,
}

/// What an operation asks for: `delta` more of `resource`, compared before the change or
/// after it (see [`LimitCheck::after`]).
pub(crate) type Want = (Resource, u64, bool);

/// Creating an image takes one image slot.
pub(crate) const CREATE: &[Want] = &[(Resource::ImageCountTotal, 1, false)];
/// Uploading needs room in stored size (not knowing the size yet, Glance asks for nothing
/// more than being under the limit) and an upload slot counting this upload.
pub(crate) const UPLOAD: &[Want] = &[
    (Resource::ImageSizeTotal, 0, false),
    (Resource::ImageCountUploading, 0, true),
];

/// Staging needs room in the staging area (its size unknown, as for uploads) and an upload
/// slot counting this stage.
pub(crate) const STAGE: &[Want] = &[
    (Resource::ImageStageTotal, 0, false),
    (Resource::ImageCountUploading, 0, true),
];

impl Glance {
    /// The checks of `wants` for images owned by `project`, with limits read now; none when
    /// unified limits are off or the image has no owner.
    pub(crate) async fn limit_checks(
        &self,
        project: Option<&str>,
        wants: &[Want],
    ) -> Result<Vec<LimitCheck>, DomainError> {
        let (Some(source), Some(project)) = (&self.limits, project) else {
            return Ok(Vec::new());
        };
        let resources: Vec<Resource> = wants.iter().map(|w| w.0).collect();
        let limits = source.limits(project, &resources).await.map_err(|e| {
            tracing::error!(project, error = %e, "cannot read unified limits");
            DomainError::Unavailable(format!("Unable to read the project's limits: {e}"))
        })?;
        Ok(wants
            .iter()
            .map(|&(resource, delta, after)| LimitCheck {
                resource,
                limit: limits.get(&resource).copied().unwrap_or(0),
                delta,
                after,
            })
            .collect())
    }

    /// `GET /v2/info/usage`: the caller's project's limits and usage; empty when unified
    /// limits are off (as Glance answers).
    pub async fn usage(&self, who: &Caller) -> Result<Vec<ResourceUsage>, DomainError> {
        let Some(source) = &self.limits else {
            return Ok(Vec::new());
        };
        let limits = source
            .limits(&who.project, &Resource::ALL)
            .await
            .map_err(DomainError::Unavailable)?;
        let usage = self.meta.get_usage(&who.project).await?;
        Ok(Resource::ALL
            .iter()
            .map(|&resource| ResourceUsage {
                resource,
                limit: limits.get(&resource).copied().unwrap_or(0),
                usage: usage.of(resource),
            })
            .collect())
    }
}
