//! [`transport_suite`]: what every [`RaftTransport`] must do, run against the in-process fake
//! and the node's QUIC transport alike (in the manner of chitchat's `test_transport_suite`).
//!
//! The suite panics on the first broken expectation, with the case named. A case the
//! harness cannot offer (a certificate from a foreign CA means nothing in-process) is listed
//! in [`SuiteReport::not_applicable`], so a caller asserts what was skipped.

use crate::forward::{ForwardReply, ForwardRequest};
use crate::network::{RaftReply, RaftRpc, RaftTransport, TransportError};
use crate::types::{Node, NodeId, SnapshotMeta, TypeConfig};
use openraft::raft::{AppendEntriesRequest, InstallSnapshotRequest, VoteRequest};
use openraft::Vote;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a harness can set up beyond connected, stoppable nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// It can start a peer holding a certificate from another CA (mutual TLS only).
    pub foreign_ca: bool,
}

/// One node a harness started: a fresh single-voter `Meta` served on the transport.
#[derive(Clone)]
pub struct HarnessNode {
    /// Its raft id.
    pub id: NodeId,
    /// Its membership entry (the address the transport reaches it at).
    pub node: Node,
    /// The transport this node calls its peers with.
    pub transport: Arc<dyn RaftTransport>,
}

/// Builds connected endpoints of one transport implementation for [`transport_suite`].
#[async_trait::async_trait]
pub trait RaftHarness: Send {
    /// What this harness can set up.
    fn capabilities(&self) -> Capabilities;

    /// The largest encoded message the transport carries.
    fn max_message(&self) -> usize;

    /// Starts node `id`: a `Meta` bootstrapped as its own single voter, served on the
    /// transport and reachable from every other started node; returns once it leads its
    /// one-node cluster.
    async fn start(&mut self, id: NodeId) -> HarnessNode;

    /// Makes node `id` hold every call it receives without answering (`true`) or answer
    /// again (`false`).
    fn stall(&mut self, id: NodeId, stalled: bool);

    /// Stops node `id` serving, as a crash would: calls in flight to it must fail.
    async fn stop(&mut self, id: NodeId);

    /// A transport whose own certificate comes from a foreign CA (it trusts ours), for
    /// calling started nodes; `None` without [`Capabilities::foreign_ca`].
    async fn foreign_client(&mut self) -> Option<Arc<dyn RaftTransport>>;

    /// A node serving with a certificate from a foreign CA (trusting only that CA), for
    /// started nodes to call; `None` without [`Capabilities::foreign_ca`].
    async fn foreign_server(&mut self) -> Option<HarnessNode>;
}

/// Which cases ran and which the harness could not offer.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SuiteReport {
    /// Cases run and passed.
    pub ran: Vec<&'static str>,
    /// Cases skipped because the harness lacks a capability.
    pub not_applicable: Vec<&'static str>,
}

/// Longest a call to a vanished peer may take to fail.
const GIVE_UP: Duration = Duration::from_secs(15);

/// The size of the largest chunk the chunker makes (4 MiB): a snapshot piece that large
/// must cross.
const LARGE: usize = 4 * 1024 * 1024;

/// Runs every case against `harness`; panics on a failure.
pub async fn transport_suite(harness: &mut dyn RaftHarness) -> SuiteReport {
    let mut report = SuiteReport::default();
    let a = harness.start(1).await;
    let b = harness.start(2).await;
    let c = harness.start(3).await;

    round_trips(&a, &b).await;
    report.ran.push("round_trips");

    large_messages(&a, &b).await;
    report.ran.push("large_messages");

    too_large(&a, &b, harness.max_message()).await;
    report.ran.push("too_large");

    // Last among the cases that use `b`: it stops it.
    peer_vanishes_mid_call(harness, &a, &b, &c).await;
    report.ran.push("peer_vanishes_mid_call");

    if harness.capabilities().foreign_ca {
        foreign_ca(harness, &a, &c).await;
        report.ran.push("foreign_ca");
    } else {
        report.not_applicable.push("foreign_ca");
    }
    report
}

/// A vote that loses to any started node's own, so the suite never disturbs a node's raft.
fn stale_vote(from: NodeId) -> Vote<NodeId> {
    Vote::new(0, from)
}

fn snapshot_piece(from: NodeId, data: Vec<u8>) -> RaftRpc {
    RaftRpc::InstallSnapshot(InstallSnapshotRequest::<TypeConfig> {
        vote: stale_vote(from),
        meta: SnapshotMeta {
            last_log_id: None,
            last_membership: Default::default(),
            snapshot_id: "transport-suite".into(),
        },
        offset: 0,
        data,
        done: false,
    })
}

async fn status(from: &HarnessNode, to: &HarnessNode) -> Result<ForwardReply, TransportError> {
    from.transport
        .forward(to.id, &to.node, ForwardRequest::Status)
        .await
}

/// Asserts that `to` answers a status call as itself.
async fn assert_answers(from: &HarnessNode, to: &HarnessNode, case: &str) {
    match status(from, to).await {
        Ok(ForwardReply::Status(Ok(s))) => assert_eq!(s.node_id, to.id, "{case}: status"),
        other => panic!("{case}: status of node {}: {other:?}", to.id),
    }
}

/// Every message kind crosses and comes back as the matching reply kind, from the callee.
async fn round_trips(a: &HarnessNode, b: &HarnessNode) {
    let vote = RaftRpc::Vote(VoteRequest::new(stale_vote(a.id), None));
    match a.transport.call(b.id, &b.node, vote).await {
        Ok(RaftReply::Vote(Ok(r))) => {
            assert!(!r.vote_granted, "round_trips: a stale vote was granted");
            assert_eq!(r.vote.leader_id().voted_for(), Some(b.id), "round_trips");
        }
        other => panic!("round_trips: vote: {other:?}"),
    }
    let append = RaftRpc::AppendEntries(AppendEntriesRequest::<TypeConfig> {
        vote: stale_vote(a.id),
        prev_log_id: None,
        entries: Vec::new(),
        leader_commit: None,
    });
    match a.transport.call(b.id, &b.node, append).await {
        Ok(RaftReply::AppendEntries(Ok(_))) => {}
        other => panic!("round_trips: append entries: {other:?}"),
    }
    match a
        .transport
        .call(b.id, &b.node, snapshot_piece(a.id, vec![7; 16]))
        .await
    {
        Ok(RaftReply::InstallSnapshot(Ok(r))) => {
            assert_eq!(r.vote.leader_id().voted_for(), Some(b.id), "round_trips");
        }
        other => panic!("round_trips: install snapshot: {other:?}"),
    }
    assert_answers(a, b, "round_trips").await;
    // A forwarded call any node answers (a real node refuses the others from a node that is
    // not a member of its cluster, as `a` is not of `b`'s).
    match a
        .transport
        .forward(b.id, &b.node, ForwardRequest::Status)
        .await
    {
        Ok(ForwardReply::Status(Ok(s))) => assert_eq!(s.node_id, b.id, "round_trips"),
        other => panic!("round_trips: status: {other:?}"),
    }
    // Both directions.
    assert_answers(b, a, "round_trips").await;
}

/// A 4 MiB snapshot piece crosses intact. (Raft messages stay far below the frame limit,
/// openraft sends snapshots in pieces of a few MiB; the chunk suite covers a message just
/// under the limit.)
async fn large_messages(a: &HarnessNode, b: &HarnessNode) {
    match a
        .transport
        .call(b.id, &b.node, snapshot_piece(a.id, vec![0x11; LARGE]))
        .await
    {
        Ok(RaftReply::InstallSnapshot(Ok(_))) => {}
        other => panic!("large_messages: {LARGE} bytes: {other:?}"),
    }
}

/// A message over the limit is refused with a typed error, and the peer still answers.
async fn too_large(a: &HarnessNode, b: &HarnessNode, max: usize) {
    let started = Instant::now();
    // Bytes from 0x80 up encode as two bytes each: over the limit at half the work.
    match a
        .transport
        .call(b.id, &b.node, snapshot_piece(a.id, vec![0xff; max / 2 + 1]))
        .await
    {
        Err(TransportError::TooLarge { len, max: m }) => {
            assert!(len > m && m == max, "too_large: {len} > {m}")
        }
        other => panic!("too_large: {other:?}"),
    }
    assert!(
        started.elapsed() < GIVE_UP,
        "too_large: took {:?}",
        started.elapsed()
    );
    assert_answers(a, b, "too_large").await;
}

/// `b` stops while a call to it is in flight: the call fails in bounded time, and calls to
/// `c` still work.
async fn peer_vanishes_mid_call(
    harness: &mut dyn RaftHarness,
    a: &HarnessNode,
    b: &HarnessNode,
    c: &HarnessNode,
) {
    harness.stall(b.id, true);
    let in_flight = {
        let (a, b) = (a.clone(), b.clone());
        tokio::spawn(async move {
            let started = Instant::now();
            let result = tokio::time::timeout(GIVE_UP, status(&a, &b)).await;
            (result, started.elapsed())
        })
    };
    // Let the call reach `b` and wait there.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !in_flight.is_finished(),
        "peer_vanishes_mid_call: a stalled peer answered"
    );
    harness.stop(b.id).await;
    let (result, took) = in_flight.await.expect("the in-flight call panicked");
    match result {
        Ok(Err(TransportError::Unreachable(_) | TransportError::Network(_))) => {}
        Ok(other) => panic!("peer_vanishes_mid_call: {other:?}"),
        Err(_) => panic!("peer_vanishes_mid_call: no answer within {GIVE_UP:?}"),
    }
    assert!(took < GIVE_UP, "peer_vanishes_mid_call: took {took:?}");
    assert_answers(a, c, "peer_vanishes_mid_call").await;
    assert!(
        status(a, b).await.is_err(),
        "peer_vanishes_mid_call: a stopped node answered"
    );
}

/// A peer with a certificate from a foreign CA is refused in both directions.
async fn foreign_ca(harness: &mut dyn RaftHarness, a: &HarnessNode, c: &HarnessNode) {
    let intruder = harness
        .foreign_client()
        .await
        .expect("foreign_ca: capability without a foreign client");
    match intruder
        .forward(a.id, &a.node, ForwardRequest::Status)
        .await
    {
        Err(TransportError::Unreachable(_)) => {}
        other => panic!("foreign_ca: a foreign client was served: {other:?}"),
    }
    let outsider = harness
        .foreign_server()
        .await
        .expect("foreign_ca: capability without a foreign server");
    match status(a, &outsider).await {
        Err(TransportError::Unreachable(_)) => {}
        other => panic!("foreign_ca: a foreign server was trusted: {other:?}"),
    }
    assert_answers(a, c, "foreign_ca").await;
}
