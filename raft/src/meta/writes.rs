//! Writes: proposing a command, on the leader wherever it is.

use super::{mismatch, write_err, Meta};
use crate::command::{Outcome, Request};
use crate::error::MetaError;
use crate::forward::{ForwardReply, ForwardRequest};

impl Meta {
    /// Replicates `req` (on the leader, wherever it is) and returns its deterministic
    /// outcome. Retries after a leader change reuse `req.request_id`, so it applies once.
    pub async fn propose(&self, req: Request) -> Result<Outcome, MetaError> {
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
