//! Writes: proposing a command, on the leader wherever it is.

use super::{mismatch, write_err, Meta};
use crate::command::{Outcome, Request};
use crate::error::MetaError;
use crate::forward::{ForwardReply, ForwardRequest};

/// Largest log entry (an encoded command). A transport must carry an append-entries message
/// holding one such entry ([`crate::RaftTransport`]); larger batches are split
/// (`PayloadTooLarge`).
pub const MAX_ENTRY_BYTES: usize = 16 << 20;

impl Meta {
    /// Replicates `req` (on the leader, wherever it is) and returns its deterministic
    /// outcome. Retries after a leader change reuse `req.request_id`, so it applies once.
    /// A command whose encoding exceeds [`MAX_ENTRY_BYTES`] is refused here, before it reaches
    /// the log: no batch split could carry it to a follower.
    pub async fn propose(&self, req: Request) -> Result<Outcome, MetaError> {
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

    pub(super) async fn propose_local(&self, req: Request) -> Result<Outcome, MetaError> {
        self.inner
            .raft
            .client_write(req)
            .await
            .map(|r| r.data)
            .map_err(write_err)
    }
}
