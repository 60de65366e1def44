//! An upload's copies on other nodes survive those nodes' reapers whatever their grace, are
//! re-confirmed at W before the ingest succeeds, and are released when the uploader stops.

use std::collections::HashSet;
use std::time::Duration;

use bytes::Bytes;

use crate::quorum_tests::{chunk_and_manifest_ids, ids_of, quick, Net};
use crate::tests::{pseudo_random, rt, NothingLive};
use crate::{ChunkId, Data, DataError, QuorumConfig};

const LEASE: Duration = Duration::from_millis(600);
/// The remote reapers' grace: a chunk is theirs 100 ms after its write unless leased.
const GRACE: Duration = Duration::from_millis(100);

fn net() -> Net {
    Net::new(
        3,
        QuorumConfig {
            upload_lease: LEASE,
            ..quick()
        },
    )
}

/// Runs `node`'s reaper with a grace far shorter than the upload, every 20 ms, until the
/// task is aborted.
fn eager_reaper(node: Data) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            node.reap_once(&NothingLive, GRACE).await.unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
}

/// Writes `bytes` in pieces with pauses, so the upload outlasts several leases. (The chunker
/// cuts a chunk once it holds the largest chunk's worth, so the first chunks of a 10 MB image
/// are out before the upload ends.)
async fn slow_write(ing: &mut crate::Ingest, bytes: &[u8]) {
    for piece in bytes.chunks(400_000) {
        ing.write(Bytes::copy_from_slice(piece)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

/// Nodes 2 and 3 reap with a 100 ms grace throughout an upload that lasts three leases and more:
/// the upload succeeds with every chunk on all three targets (W is 2); once the hold is
/// dropped the leases run out and the (unreferenced) remote copies go.
#[test]
fn remote_reapers_with_a_short_grace_keep_an_uploads_copies_until_it_ends() {
    let rt = rt();
    let net = net();
    let bytes = pseudo_random(5_000_000, 21);
    rt.block_on(async {
        let reapers = [
            eager_reaper(net.node(2).clone()),
            eager_reaper(net.node(3).clone()),
        ];
        let mut ing = net.node(1).ingest();
        let started = tokio::time::Instant::now();
        slow_write(&mut ing, &bytes).await;
        let done = ing.finish().await.unwrap();
        assert!(started.elapsed() > LEASE * 3, "{:?}", started.elapsed());
        let m = net.node(1).manifest(&done.manifest).await.unwrap();
        let ids = chunk_and_manifest_ids(&done, &m);
        assert!(ids.len() >= 4);
        // Held (not yet named by a record): the remote reapers keep passing and keep off.
        tokio::time::sleep(GRACE * 3).await;
        let all: HashSet<u64> = [1, 2, 3].into();
        for id in &ids {
            assert_eq!(net.holders(id), all, "chunk {id} while held");
        }
        drop(done);
        tokio::time::sleep(LEASE * 2).await;
        for r in reapers {
            r.abort();
        }
        for id in &ids {
            assert_eq!(
                net.holders(id),
                [1].into(),
                "chunk {id} after the leases ran out"
            );
        }
    });
}

/// An upload abandoned mid-way (its node died) renews nothing: the copies it leased on the
/// other nodes are reaped once their leases expire.
#[test]
fn an_abandoned_uploads_leases_run_out() {
    let rt = rt();
    let net = net();
    let bytes = pseudo_random(10_000_000, 22);
    let (_, chunks) = ids_of(&rt, &bytes);
    rt.block_on(async {
        let mut ing = net.node(1).ingest();
        slow_write(&mut ing, &bytes).await;
        // Every full chunk reached the other nodes before the uploader stops.
        let first = chunks[0];
        assert_eq!(net.holders(&first), [1, 2, 3].into());
        drop(ing);
        let reapers = [
            eager_reaper(net.node(2).clone()),
            eager_reaper(net.node(3).clone()),
        ];
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(net.holders(&first).contains(&2), "leased still");
        tokio::time::sleep(LEASE * 2).await;
        for r in reapers {
            r.abort();
        }
        assert_eq!(net.holders(&first), [1].into());
    });
}

/// Waits until every node holds `id`, then deletes it from `lose`.
async fn lose_copies(net: &Net, id: &ChunkId, lose: &[u64]) {
    for _ in 0..200 {
        if net.holders(id).len() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        net.holders(id).len(),
        3,
        "chunk {id} never reached every node"
    );
    for n in lose {
        assert!(net.node(*n).store().delete(id).unwrap());
    }
}

/// Two of a chunk's three copies vanish before the upload ends: the confirmation finds one
/// valid copy, short of W, and writes the chunk to its targets again before succeeding.
#[test]
fn a_copy_lost_before_activation_is_written_again() {
    let rt = rt();
    let net = net();
    let bytes = pseudo_random(10_000_000, 23);
    let (_, chunks) = ids_of(&rt, &bytes);
    rt.block_on(async {
        let mut ing = net.node(1).ingest();
        ing.write(Bytes::from(bytes.clone())).await.unwrap();
        lose_copies(&net, &chunks[0], &[2, 3]).await;
        let done = ing.finish().await.unwrap();
        assert_eq!(net.holders(&chunks[0]), [1, 2, 3].into());
        let m = net.node(1).manifest(&done.manifest).await.unwrap();
        for id in chunk_and_manifest_ids(&done, &m) {
            assert_eq!(net.holders(&id).len(), 3, "chunk {id}");
        }
    });
}

/// Every copy of a chunk vanishes before the upload ends: the ingest fails (the image stays
/// queued) rather than reporting data it cannot read back.
#[test]
fn a_chunk_lost_everywhere_fails_the_upload_cleanly() {
    let rt = rt();
    let net = net();
    let bytes = pseudo_random(10_000_000, 24);
    let (_, chunks) = ids_of(&rt, &bytes);
    rt.block_on(async {
        let mut ing = net.node(1).ingest();
        ing.write(Bytes::from(bytes.clone())).await.unwrap();
        lose_copies(&net, &chunks[0], &[1, 2, 3]).await;
        match ing.finish().await {
            Err(DataError::Unavailable { id, .. }) => assert_eq!(id, chunks[0]),
            other => panic!("{other:?}"),
        }
    });
}
