//! Writes: proposing a command, on the leader wherever it is.

use super::{mismatch, write_err, Meta};
use crate::command::{Outcome, Request};
use crate::error::MetaError;
use crate::forward::{ForwardReply, ForwardRequest};
use crate::space::MetaSpace;
use std::sync::{Arc, PoisonError};

/// Largest log entry (an encoded command). A transport must carry an append-entries message
/// holding one such entry ([`crate::RaftTransport`]); larger batches are split
/// (`PayloadTooLarge`).
pub const MAX_ENTRY_BYTES: usize = 16 << 20;

impl Meta {
    /// Replicates `req` (on the leader, wherever it is) and returns its deterministic
    /// outcome. Retries after a leader change reuse `req.request_id`, so it applies once.
    /// A command whose encoding exceeds [`MAX_ENTRY_BYTES`] is refused here, before it reaches
    /// the log: no batch split could carry it to a follower.
    ///
    /// While this node's metadata volume is below its reserve ([`Meta::set_space`]), a
    /// command that grows the state is refused with [`MetaError::StorageFull`]; removals go
    /// through.
    pub async fn propose(&self, req: Request) -> Result<Outcome, MetaError> {
        if req.command.grows() {
            self.check_room()?;
        }
        let len = rmp_serde::to_vec(&req)
            .map_err(|e| MetaError::Codec(e.to_string()))?
            .len();
        if len > MAX_ENTRY_BYTES {
            return Err(MetaError::TooLarge {
                len,
                max: MAX_ENTRY_BYTES,
            });
        }
        match self.route(ForwardRequest::Propose(req), None).await? {
            ForwardReply::Propose(r) => r,
            _ => Err(mismatch()),
        }
    }

    /// Checks proposals that grow the state against `space` from now on.
    pub fn set_space(&self, space: Arc<dyn MetaSpace>) {
        *self
            .inner
            .space
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(space);
    }

    fn check_room(&self) -> Result<(), MetaError> {
        let space = self
            .inner
            .space
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        match space.as_ref() {
            Some(s) => s.check_room().map_err(MetaError::StorageFull),
            None => Ok(()),
        }
    }

    pub(super) async fn propose_local(&self, req: Request) -> Result<Outcome, MetaError> {
        self.inner
            .raft
            .client_write(req)
            .await
            .map(|r| r.data)
            .map_err(write_err)
    }
}
