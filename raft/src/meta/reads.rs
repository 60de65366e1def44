//! Reads: linearizable reads routed to the leader, and local (possibly stale) reads for
//! background loops.

use super::{mismatch, Meta};
use crate::db::SmTrees;
use crate::docs::Doc;
use crate::error::MetaError;
use crate::forward::{ForwardReply, ForwardRequest};
use crate::index;
use crate::model::{DataRef, Image, ImageStatus};
use crate::query::ListQuery;
use crate::state_machine;
use crate::usage::Usage;
use openraft::error::{CheckIsLeaderError, RaftError};

impl Meta {
    /// Linearizable read of one image.
    pub async fn get_image(&self, id: &str) -> Result<Option<Image>, MetaError> {
        match self
            .route(ForwardRequest::GetImage(id.into()), None)
            .await?
        {
            ForwardReply::GetImage(r) => r,
            _ => Err(mismatch()),
        }
    }

    /// Linearizable read of one page of images.
    pub async fn list_images(&self, q: &ListQuery) -> Result<Vec<Image>, MetaError> {
        match self
            .route(ForwardRequest::ListImages(q.clone()), None)
            .await?
        {
            ForwardReply::ListImages(r) => r,
            _ => Err(mismatch()),
        }
    }

    /// The chunk store's data of every stored image: the manifests and the cluster stores
    /// holding them (for the chunk reaper).
    pub async fn live_manifests(&self) -> Result<Vec<DataRef>, MetaError> {
        match self.route(ForwardRequest::LiveManifests, None).await? {
            ForwardReply::LiveManifests(r) => r,
            _ => Err(mismatch()),
        }
    }

    /// Linearizable read of `project`'s unified-limit usage.
    pub async fn get_usage(&self, project: &str) -> Result<Usage, MetaError> {
        match self
            .route(ForwardRequest::GetUsage(project.into()), None)
            .await?
        {
            ForwardReply::GetUsage(r) => r,
            _ => Err(mismatch()),
        }
    }

    /// Linearizable read of one document.
    pub async fn get_doc(&self, kind: &str, id: &str) -> Result<Option<Doc>, MetaError> {
        match self
            .route(ForwardRequest::GetDoc(kind.into(), id.into()), None)
            .await?
        {
            ForwardReply::GetDoc(r) => r,
            _ => Err(mismatch()),
        }
    }

    /// Linearizable read of every document of `kind` whose id starts with `prefix`, in id
    /// order.
    pub async fn list_docs(&self, kind: &str, prefix: &str) -> Result<Vec<Doc>, MetaError> {
        match self
            .route(ForwardRequest::ListDocs(kind.into(), prefix.into()), None)
            .await?
        {
            ForwardReply::ListDocs(r) => r,
            _ => Err(mismatch()),
        }
    }

    /// Documents of `kind` under `prefix` in this node's state machine, without checking
    /// leadership (may be stale on a follower); for background loops.
    pub fn list_docs_local(&self, kind: &str, prefix: &str) -> Result<Vec<Doc>, MetaError> {
        Ok(state_machine::list_docs(&self.inner.db.sm, kind, prefix)?)
    }

    /// Reads one image from this node's state machine without checking leadership (may be
    /// stale on a follower).
    pub fn get_image_local(&self, id: &str) -> Result<Option<Image>, MetaError> {
        Ok(state_machine::get_image(&self.inner.db.sm, id)?)
    }

    /// Every image in `status` in this node's state machine, without checking leadership
    /// (may be stale on a follower); for background loops that then write with a
    /// compare-and-set.
    pub fn images_with_status_local(&self, status: ImageStatus) -> Result<Vec<Image>, MetaError> {
        index::images_with_status(&self.inner.db.sm, status)
    }

    /// Waits until this node may serve a linearizable read (it is leader and has applied
    /// everything committed before the call), then reads its state machine.
    pub(super) async fn read<T, E: Into<MetaError>>(
        &self,
        f: impl FnOnce(&SmTrees) -> Result<T, E>,
    ) -> Result<T, MetaError> {
        match self.inner.raft.ensure_linearizable().await {
            Ok(_) => f(&self.inner.db.sm).map_err(Into::into),
            Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f))) => Err(f.into()),
            Err(RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(e))) => {
                Err(MetaError::Timeout(e.to_string()))
            }
            Err(RaftError::Fatal(f)) => Err(f.into()),
        }
    }
}
