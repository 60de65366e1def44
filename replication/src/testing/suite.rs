//! [`peer_chunks_suite`]: what every [`PeerChunks`] must do, run against the in-process fake
//! and the node's QUIC implementation alike (in the manner of chitchat's
//! `test_transport_suite`).
//!
//! The suite panics on the first broken expectation, with the case named. A case the
//! harness cannot offer (a certificate from a foreign CA means nothing in-process) is listed
//! in [`SuiteReport::not_applicable`], so a caller asserts what was skipped.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::future::BoxFuture;

use crate::chunker;
use crate::id::ChunkId;
use crate::loops::replicator::digest::BUCKETS;
use crate::peer::{PeerChunks, PeerError};

/// What a harness can set up beyond connected, stoppable nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// It can start a peer holding a certificate from another CA (mutual TLS only).
    pub foreign_ca: bool,
}

/// Builds connected nodes of one [`PeerChunks`] implementation for [`peer_chunks_suite`].
pub trait PeerHarness: Send {
    /// What this harness can set up.
    fn capabilities(&self) -> Capabilities;

    /// The largest request the transport carries (a chunk plus its framing).
    fn max_message(&self) -> usize;

    /// Starts node `id` serving an empty chunk store, reachable from every client.
    fn start(&mut self, id: u64) -> BoxFuture<'_, ()>;

    /// The [`PeerChunks`] node `from` calls its peers with.
    fn client(&self, from: u64) -> Arc<dyn PeerChunks>;

    /// Makes node `id` hold every call it receives without answering (`true`) or answer
    /// again (`false`).
    fn stall(&mut self, id: u64, stalled: bool);

    /// Stops node `id` serving, as a crash would: calls in flight to it must fail.
    fn stop(&mut self, id: u64) -> BoxFuture<'_, ()>;

    /// A client whose own certificate comes from a foreign CA (it trusts ours), reaching
    /// started nodes by id; `None` without [`Capabilities::foreign_ca`].
    fn foreign_client(&mut self) -> BoxFuture<'_, Option<Arc<dyn PeerChunks>>>;

    /// Starts a node serving with a certificate from a foreign CA (trusting only that CA)
    /// and returns its id, reachable from every client; `None` without
    /// [`Capabilities::foreign_ca`].
    fn foreign_server(&mut self) -> BoxFuture<'_, Option<u64>>;
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

/// Runs every case against `harness`; panics on a failure.
pub async fn peer_chunks_suite(harness: &mut dyn PeerHarness) -> SuiteReport {
    let mut report = SuiteReport::default();
    for id in [1, 2, 3] {
        harness.start(id).await;
    }
    let client = harness.client(1);

    round_trips(client.as_ref()).await;
    report.ran.push("round_trips");

    large_chunks(client.as_ref(), harness.max_message()).await;
    report.ran.push("large_chunks");

    too_large(client.as_ref(), harness.max_message()).await;
    report.ran.push("too_large");

    // Last among the cases that use node 2: it stops it.
    peer_vanishes_mid_call(harness, client.clone()).await;
    report.ran.push("peer_vanishes_mid_call");

    if harness.capabilities().foreign_ca {
        foreign_ca(harness, client.as_ref()).await;
        report.ran.push("foreign_ca");
    } else {
        report.not_applicable.push("foreign_ca");
    }
    report
}

/// Distinct bytes of `len` (so distinct ids) with a recognisable pattern.
fn chunk(len: usize, seed: u8) -> (ChunkId, Bytes) {
    let bytes: Bytes = (0..len)
        .map(|i| (i % 251) as u8 ^ seed)
        .collect::<Vec<u8>>()
        .into();
    (ChunkId::of(&bytes), bytes)
}

/// Stores `bytes` on `node` and reads them back intact.
async fn put_and_get(client: &dyn PeerChunks, node: u64, id: ChunkId, bytes: Bytes, case: &str) {
    let len = bytes.len();
    if let Err(e) = client.put(node, id, bytes.clone(), None).await {
        panic!("{case}: put of {len} bytes on node {node}: {e}");
    }
    match client.get(node, id).await {
        Ok(Some(got)) => assert!(got == bytes, "{case}: {len} bytes came back different"),
        other => panic!("{case}: get of {len} bytes from node {node}: {other:?}"),
    }
}

/// Every request kind crosses and comes back with the callee's answer.
async fn round_trips(client: &dyn PeerChunks) {
    let case = "round_trips";
    let (id, bytes) = chunk(1000, 1);
    let (absent, _) = chunk(1000, 2);
    put_and_get(client, 2, id, bytes.clone(), case).await;
    // Idempotent: a second copy of the same chunk is fine.
    client.put(2, id, bytes.clone(), None).await.expect(case);
    assert_eq!(client.get(2, absent).await.expect(case), None, "{case}");
    assert_eq!(
        client.has(2, vec![id, absent]).await.expect(case),
        [true, false],
        "{case}: has"
    );
    assert_eq!(
        client.verify(2, vec![absent, id]).await.expect(case),
        [false, true],
        "{case}: verify"
    );
    // A lease answers presence like `has`; a put may carry one.
    let day = Duration::from_secs(86_400);
    assert_eq!(
        client.lease(2, vec![absent, id], day).await.expect(case),
        [false, true],
        "{case}: lease"
    );
    let (leased, leased_bytes) = chunk(1000, 10);
    client
        .put(2, leased, leased_bytes, Some(day))
        .await
        .expect(case);
    assert_eq!(
        client.has(2, vec![leased]).await.expect(case),
        [true],
        "{case}: leased put"
    );
    assert_eq!(
        client.has(2, Vec::new()).await.expect(case),
        Vec::<bool>::new()
    );
    // Only node 2 holds the chunk: node 3 answers for itself.
    assert_eq!(
        client.has(3, vec![id]).await.expect(case),
        [false],
        "{case}"
    );
    let digests = client.bucket_digests(2, 3).await.expect(case);
    assert_eq!(digests.len(), BUCKETS, "{case}: bucket digests");
    let ids = client.bucket_ids(2, 3, 0).await.expect(case);
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{case}: unsorted ids");
    // A refusal by the callee is its own typed error, and the callee goes on serving.
    match client.put(2, absent, bytes.clone(), None).await {
        Err(PeerError::Remote { node: 2, .. }) => {}
        other => panic!("{case}: a chunk under the wrong id: {other:?}"),
    }
    assert_eq!(client.has(2, vec![id]).await.expect(case), [true], "{case}");
}

/// The largest chunk the chunker makes and one just under the limit cross intact.
async fn large_chunks(client: &dyn PeerChunks, max: usize) {
    let (id, bytes) = chunk(chunker::MAX_SIZE, 3);
    put_and_get(client, 2, id, bytes, "large_chunks").await;
    // 64 KiB leave room for the request's framing around the bytes.
    let (id, bytes) = chunk(max - 64 * 1024, 4);
    put_and_get(client, 3, id, bytes, "large_chunks").await;
}

/// A chunk over the limit is refused with a typed error, and the peer still answers.
async fn too_large(client: &dyn PeerChunks, max: usize) {
    let case = "too_large";
    let (id, bytes) = chunk(max + 1, 5);
    let started = Instant::now();
    match client.put(2, id, bytes, None).await {
        Err(PeerError::TooLarge {
            node: 2,
            len,
            max: m,
        }) => {
            assert!(len > max && m == max, "{case}: {len} > {m}")
        }
        other => panic!("{case}: {other:?}"),
    }
    assert!(
        started.elapsed() < GIVE_UP,
        "{case}: took {:?}",
        started.elapsed()
    );
    let (id, bytes) = chunk(100, 6);
    put_and_get(client, 2, id, bytes, case).await;
}

/// Node 2 stops while a call to it is in flight: the call fails in bounded time, and calls
/// to node 3 still work.
async fn peer_vanishes_mid_call(harness: &mut dyn PeerHarness, client: Arc<dyn PeerChunks>) {
    let case = "peer_vanishes_mid_call";
    let (id, bytes) = chunk(1000, 7);
    harness.stall(2, true);
    let in_flight = {
        let client = client.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let result = tokio::time::timeout(GIVE_UP, client.put(2, id, bytes, None)).await;
            (result, started.elapsed())
        })
    };
    // Let the call reach node 2 and wait there.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!in_flight.is_finished(), "{case}: a stalled peer answered");
    harness.stop(2).await;
    let (result, took) = in_flight.await.expect("the in-flight call panicked");
    match result {
        Ok(Err(
            PeerError::Down(2) | PeerError::Timeout(2) | PeerError::Transport { node: 2, .. },
        )) => {}
        Ok(other) => panic!("{case}: {other:?}"),
        Err(_) => panic!("{case}: no answer within {GIVE_UP:?}"),
    }
    assert!(took < GIVE_UP, "{case}: took {took:?}");
    let (id, bytes) = chunk(1000, 8);
    put_and_get(client.as_ref(), 3, id, bytes, case).await;
    assert!(
        client.has(2, vec![id]).await.is_err(),
        "{case}: a stopped node answered"
    );
}

/// A peer with a certificate from a foreign CA is refused in both directions.
async fn foreign_ca(harness: &mut dyn PeerHarness, client: &dyn PeerChunks) {
    let case = "foreign_ca";
    let intruder = harness
        .foreign_client()
        .await
        .expect("foreign_ca: capability without a foreign client");
    let (id, bytes) = chunk(1000, 9);
    match intruder.put(3, id, bytes, None).await {
        Err(_) => {}
        Ok(()) => panic!("{case}: a foreign client stored a chunk"),
    }
    assert_eq!(
        client.has(3, vec![id]).await.expect(case),
        [false],
        "{case}"
    );
    let outsider = harness
        .foreign_server()
        .await
        .expect("foreign_ca: capability without a foreign server");
    assert!(
        client.has(outsider, vec![id]).await.is_err(),
        "{case}: a foreign server was trusted"
    );
    assert_eq!(
        client.has(3, vec![id]).await.expect(case),
        [false],
        "{case}"
    );
}
