//! Routing: every call runs on the leader, here when this node leads, else forwarded through
//! the transport, following leader hints and retrying within a count and time budget.

use super::{mismatch, wait_err, Meta};
use crate::error::MetaError;
use crate::forward::{ForwardReply, ForwardRequest};
use crate::index;
use crate::state_machine;
use crate::types::{Node, NodeId};
use std::time::{Duration, Instant};

/// Longest pause between two attempts of a routed call.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

impl Meta {
    /// The leader this node knows of, waiting up to `wait` for one.
    async fn leader(&self, wait: Duration) -> Result<(NodeId, Node), MetaError> {
        let m = self
            .inner
            .raft
            .wait(Some(wait))
            .metrics(|m| m.current_leader.is_some(), "know a leader")
            .await
            .map_err(wait_err)?;
        let id = m
            .current_leader
            .ok_or_else(|| MetaError::Timeout("no leader".into()))?;
        let node = m
            .membership_config
            .membership()
            .get_node(&id)
            .cloned()
            .ok_or(MetaError::NotLeader {
                leader_id: Some(id),
                leader_addr: None,
            })?;
        Ok((id, node))
    }

    /// Runs `req` on the leader: here when this node leads, else through the transport,
    /// following leader hints and retrying (bounded by count and time) on leader changes,
    /// unreachable leaders and lost quorums.
    #[tracing::instrument(level = "debug", skip_all, fields(node = self.inner.node_id, call = req.kind()))]
    pub(super) async fn route(
        &self,
        req: ForwardRequest,
        first: Option<(NodeId, Node)>,
    ) -> Result<ForwardReply, MetaError> {
        let o = &self.inner.opts;
        let membership_change = matches!(
            req,
            ForwardRequest::Join { .. } | ForwardRequest::Leave { .. }
        );
        let budget = match req {
            ForwardRequest::Join { .. } => o.join_timeout + o.request_timeout,
            _ => o.request_timeout,
        };
        let deadline = Instant::now() + budget;
        // A joining node knows no leader: it keeps asking the seed it was given.
        let seed = first.clone();
        let mut hint = first;
        let mut last = MetaError::Timeout("no leader found".into());
        let mut attempts = 0;
        for attempt in 0..=o.retries {
            if attempt > 0 {
                tracing::debug!(
                    attempt,
                    leader = ?self.current_leader(),
                    hint = ?hint.as_ref().map(|h| h.0),
                    error = %last,
                    "retrying routed call"
                );
            }
            if attempt > 0 && hint.is_none() {
                let pause = (o.backoff * 2u32.saturating_pow(attempt - 1)).min(MAX_BACKOFF);
                let left = deadline.saturating_duration_since(Instant::now());
                tokio::time::sleep(pause.min(left)).await;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let (target, node) = match hint.take() {
                Some(t) => t,
                None if self.current_leader().is_none() && seed.is_some() => {
                    seed.clone().ok_or_else(mismatch)?
                }
                None => match self.leader(left).await {
                    Ok(t) => t,
                    Err(e @ (MetaError::Shutdown | MetaError::Fatal(_))) => return Err(e),
                    Err(e) => {
                        last = e;
                        continue;
                    }
                },
            };
            let remote = target != self.inner.node_id;
            attempts = attempt + 1;
            tracing::trace!(attempt, target, remote, "routing call");
            let call = async {
                if remote {
                    self.inner
                        .transport
                        .forward(target, &node, req.clone())
                        .await
                } else {
                    Ok(self.serve_local(req.clone()).await)
                }
            };
            let limit = if membership_change {
                left
            } else {
                left.min(o.attempt_timeout)
            };
            let reply = match tokio::time::timeout(limit, call).await {
                Err(_) => {
                    last = MetaError::Timeout(format!("call to node {target} timed out"));
                    continue;
                }
                Ok(Err(e)) => {
                    last = MetaError::Timeout(format!("node {target}: {e}"));
                    continue;
                }
                Ok(Ok(r)) => r,
            };
            match reply.error() {
                Some(
                    e @ MetaError::NotLeader {
                        leader_id,
                        leader_addr,
                    },
                ) => {
                    if let (Some(id), Some(addr)) = (leader_id, leader_addr) {
                        if *id != target {
                            tracing::debug!(
                                attempt,
                                target,
                                leader = *id,
                                "not the leader; following its hint"
                            );
                            hint = Some((*id, Node::new(addr.clone())));
                        }
                    }
                    last = e.clone();
                }
                Some(e @ MetaError::Shutdown) if remote => last = e.clone(),
                Some(e @ MetaError::Timeout(_)) if !membership_change => last = e.clone(),
                _ => return Ok(reply),
            }
        }
        tracing::info!(attempts, error = %last, "routed call gave up");
        Err(last)
    }

    /// Serves `req` on this node without forwarding: leader-only requests fail with
    /// [`MetaError::NotLeader`] (carrying the known leader) when this node does not lead.
    pub(crate) async fn serve_local(&self, req: ForwardRequest) -> ForwardReply {
        match req {
            ForwardRequest::Propose(r) => ForwardReply::Propose(self.propose_local(r).await),
            ForwardRequest::GetImage(id) => {
                ForwardReply::GetImage(self.read(|t| state_machine::get_image(t, &id)).await)
            }
            ForwardRequest::ListImages(q) => {
                ForwardReply::ListImages(self.read(|t| index::list_images(t, &q)).await)
            }
            ForwardRequest::LiveManifests => {
                ForwardReply::LiveManifests(self.read(state_machine::live_manifests).await)
            }
            ForwardRequest::GetDoc(kind, id) => {
                ForwardReply::GetDoc(self.read(|t| state_machine::get_doc(t, &kind, &id)).await)
            }
            ForwardRequest::GetUsage(project) => {
                ForwardReply::GetUsage(self.read(|t| state_machine::get_usage(t, &project)).await)
            }
            ForwardRequest::ListDocs(kind, prefix) => ForwardReply::ListDocs(
                self.read(|t| state_machine::list_docs(t, &kind, &prefix))
                    .await,
            ),
            ForwardRequest::Join { node_id, addr } => {
                ForwardReply::Join(self.join_local(node_id, addr).await)
            }
            ForwardRequest::Leave { node_id } => {
                ForwardReply::Leave(self.leave_local(node_id).await)
            }
            ForwardRequest::Status => ForwardReply::Status(self.status()),
        }
    }
}
