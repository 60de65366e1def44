//! Replicated data path over [`ChannelPeers`]: placement of writes, quorum, repair hints,
//! read failover.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::watch;

use crate::testing::{ChannelPeers, Fault};
use crate::tests::{self, pseudo_random, rt};
use crate::{ChunkId, Data, DataError, Ingested, Manifest, NodeInfo, QuorumConfig, RepairReason};

/// `n` nodes (ids 1..=n, zones z0..z2 round robin) sharing one [`ChannelPeers`].
pub(crate) struct Net {
    pub(crate) peers: Arc<ChannelPeers>,
    pub(crate) members: watch::Sender<Vec<NodeInfo>>,
    pub(crate) nodes: Vec<Data>,
    _dirs: Vec<tempfile::TempDir>,
}

impl Net {
    pub(crate) fn new(n: u64, config: QuorumConfig) -> Net {
        let infos: Vec<NodeInfo> = (1..=n)
            .map(|i| NodeInfo::new(i, format!("z{}", i % 3), 100))
            .collect();
        let (members, rx) = watch::channel(infos);
        let peers = Arc::new(ChannelPeers::new());
        let mut nodes = Vec::new();
        let mut dirs = Vec::new();
        for i in 1..=n {
            let dir = tempfile::tempdir().unwrap();
            let data = Data::clustered(dir.path(), i, rx.clone(), peers.clone(), config).unwrap();
            peers.add(i, data.chunk_service());
            nodes.push(data);
            dirs.push(dir);
        }
        Net {
            peers,
            members,
            nodes,
            _dirs: dirs,
        }
    }

    pub(crate) fn node(&self, id: u64) -> &Data {
        &self.nodes[id as usize - 1]
    }

    /// Nodes whose store holds `id`.
    pub(crate) fn holders(&self, id: &ChunkId) -> HashSet<u64> {
        self.nodes
            .iter()
            .filter(|d| d.store().has(id).unwrap())
            .map(|d| d.self_id())
            .collect()
    }

    fn mark_dead(&self, id: u64) {
        self.members.send_modify(|m| {
            for n in m.iter_mut().filter(|n| n.id == id) {
                n.alive = false;
            }
        });
    }
}

async fn try_ingest(data: &Data, bytes: &[u8]) -> Result<Ingested, DataError> {
    let mut ing = data.ingest();
    for piece in bytes.chunks(700_000) {
        ing.write(Bytes::copy_from_slice(piece)).await?;
    }
    ing.finish().await
}

/// All of `m`'s bytes, read through `data`.
async fn read_all(data: &Data, m: Manifest) -> Result<Vec<u8>, DataError> {
    let size = m.size();
    tests::read_all(data, m, 0, size).await
}

/// Ingests `bytes` through `data`, then reads the manifest back through it.
pub(crate) fn upload(
    rt: &tokio::runtime::Runtime,
    data: &Data,
    bytes: &[u8],
) -> (Ingested, Manifest) {
    let got = rt.block_on(try_ingest(data, bytes)).unwrap();
    let m = rt.block_on(data.manifest(&got.manifest)).unwrap();
    (got, m)
}

/// The ids of `m`'s chunks, then the manifest's own id.
pub(crate) fn chunk_and_manifest_ids(got: &Ingested, m: &Manifest) -> Vec<ChunkId> {
    m.entries()
        .iter()
        .map(|e| e.id)
        .chain([got.manifest])
        .collect()
}

/// The manifest id and chunk ids `bytes` produce (ingested into a throwaway local store).
pub(crate) fn ids_of(rt: &tokio::runtime::Runtime, bytes: &[u8]) -> (ChunkId, Vec<ChunkId>) {
    let dir = tempfile::tempdir().unwrap();
    let local = Data::open(dir.path()).unwrap();
    let got = rt.block_on(try_ingest(&local, bytes)).unwrap();
    let m = rt.block_on(local.manifest(&got.manifest)).unwrap();
    (got.manifest, m.entries().iter().map(|e| e.id).collect())
}

pub(crate) fn quick() -> QuorumConfig {
    QuorumConfig {
        peer_timeout: Duration::from_secs(5),
        straggler_grace: Duration::from_millis(200),
        ..QuorumConfig::default()
    }
}

#[test]
fn three_nodes_every_target_holds_every_chunk() {
    let rt = rt();
    let net = Net::new(3, quick());
    let bytes = pseudo_random(6 * 1024 * 1024 + 77, 1);
    let got = rt.block_on(try_ingest(net.node(1), &bytes)).unwrap();
    let m = rt.block_on(net.node(2).manifest(&got.manifest)).unwrap();
    assert_eq!(m.entries().len(), got.chunks);
    assert!(got.chunks >= 3);
    let all: HashSet<u64> = [1, 2, 3].into();
    for id in m.entries().iter().map(|e| e.id).chain([got.manifest]) {
        let targets: HashSet<u64> = net.node(1).placement(&id).into_iter().collect();
        assert_eq!(targets, all);
        assert_eq!(net.holders(&id), all, "chunk {id}");
    }
    assert!(net.node(1).repairs().is_empty());
    for n in 1..=3 {
        let back = rt.block_on(read_all(net.node(n), m.clone())).unwrap();
        assert!(back == bytes, "read via node {n}");
    }
    assert_eq!(net.peers.stats().gets, 0, "every node reads its own copies");
}

#[test]
fn one_node_down_upload_meets_quorum_and_hints_repair() {
    let rt = rt();
    let net = Net::new(3, quick());
    net.peers.set_down(3, true);
    let bytes = pseudo_random(5 * 1024 * 1024, 2);
    let (got, m) = upload(&rt, net.node(1), &bytes);
    let ids = chunk_and_manifest_ids(&got, &m);
    let hints = net.node(1).repairs().snapshot();
    for id in &ids {
        assert_eq!(net.holders(id), [1, 2].into());
        assert!(
            hints
                .iter()
                .any(|h| h.chunk == *id && h.node == 3 && h.reason == RepairReason::WriteFailed),
            "no hint for {id}: {hints:?}"
        );
    }
    assert!(hints.iter().all(|h| h.node == 3));
    assert_eq!(net.node(1).repairs().drain().len(), ids.len());
    assert!(net.node(1).repairs().is_empty());
    // Node 3 back up: reads through it fail over to the others.
    net.peers.set_down(3, false);
    let back = rt.block_on(read_all(net.node(3), m)).unwrap();
    assert!(back == bytes);
}

#[test]
fn two_nodes_down_upload_fails_without_manifest() {
    let rt = rt();
    let net = Net::new(3, quick());
    net.peers.set_down(2, true);
    net.peers.set_down(3, true);
    let bytes = pseudo_random(4 * 1024 * 1024, 3);
    let err = rt.block_on(try_ingest(net.node(1), &bytes)).unwrap_err();
    match err {
        DataError::InsufficientReplicas {
            acked,
            needed,
            targets,
            ..
        } => {
            assert!(acked < needed && needed == 2, "{acked}/{needed}");
            assert_eq!(targets.len(), 3);
        }
        other => panic!("expected InsufficientReplicas, got {other:?}"),
    }
    let (manifest, _) = ids_of(&rt, &bytes);
    assert!(net.holders(&manifest).is_empty());
    assert!(rt.block_on(net.node(1).manifest(&manifest)).is_err());
}

#[test]
fn membership_dead_nodes_still_count_for_the_quorum() {
    let rt = rt();
    let net = Net::new(3, quick());
    net.peers.set_down(3, true);
    net.mark_dead(3);
    let bytes = pseudo_random(2 * 1024 * 1024, 4);
    let got = rt.block_on(try_ingest(net.node(1), &bytes)).unwrap();
    assert_eq!(net.holders(&got.manifest), [1, 2].into());
    assert!(
        net.node(1).repairs().is_empty(),
        "dead nodes are not targets"
    );
    // A single live node cannot accept writes alone in a cluster of three.
    net.mark_dead(2);
    let t = Instant::now();
    let err = rt
        .block_on(try_ingest(net.node(1), &pseudo_random(1024 * 1024, 5)))
        .unwrap_err();
    assert!(matches!(
        err,
        DataError::InsufficientReplicas {
            acked: 0,
            needed: 2,
            ..
        }
    ));
    assert!(t.elapsed() < Duration::from_secs(2));
}

#[test]
fn read_fails_over_past_missing_local_and_corrupt_remote() {
    let rt = rt();
    let net = Net::new(3, quick());
    let bytes = pseudo_random(5 * 1024 * 1024 + 3, 6);
    let (got, m) = upload(&rt, net.node(1), &bytes);
    let ids = chunk_and_manifest_ids(&got, &m);
    // For each chunk: node 1 loses its copy, the first remote node read from has its copy
    // rot on disk, the other one is intact.
    let bad = |id: &ChunkId| {
        net.node(1)
            .placement(id)
            .into_iter()
            .find(|&n| n != 1)
            .unwrap()
    };
    for id in &ids {
        net.node(1).store().delete(id).unwrap();
        let path = net.node(bad(id)).store().path_of(id);
        let mut raw = std::fs::read(&path).unwrap();
        let mid = raw.len() / 2;
        raw[mid] ^= 0x40;
        std::fs::write(&path, raw).unwrap();
    }
    let m2 = rt.block_on(net.node(1).manifest(&got.manifest)).unwrap();
    assert_eq!(m2, m);
    let back = rt.block_on(read_all(net.node(1), m.clone())).unwrap();
    assert!(back == bytes);
    // The bad node quarantined its corrupt copy and answered "missing"; node 1 hinted it and
    // rewrote its own copy (read repair).
    let hints = net.node(1).repairs().drain();
    for id in &ids {
        let b = bad(id);
        assert!(!net.node(b).store().has(id).unwrap());
        assert!(hints
            .iter()
            .any(|h| h.chunk == *id && h.node == b && h.reason == RepairReason::Missing));
        assert!(net.node(1).store().has(id).unwrap(), "read repair of {id}");
    }
}

#[test]
fn read_verifies_remote_bytes_and_quarantines_corrupt_local() {
    let rt = rt();
    let net = Net::new(3, quick());
    let bytes = pseudo_random(3 * 1024 * 1024, 7);
    let (_, m) = upload(&rt, net.node(1), &bytes);
    let ids: Vec<ChunkId> = m.entries().iter().map(|e| e.id).collect();
    for id in &ids {
        let path = net.node(1).store().path_of(id);
        let mut raw = std::fs::read(&path).unwrap();
        raw[0] ^= 1;
        std::fs::write(&path, raw).unwrap();
    }
    // Node 2 corrupts replies in transit: only node 3's copies verify.
    net.peers.set_fault(2, Some(Fault::CorruptGets));
    let back = rt.block_on(read_all(net.node(1), m.clone())).unwrap();
    assert!(back == bytes);
    // Node 2 is asked (and hinted) for the chunks where it precedes node 3.
    let hints = net.node(1).repairs().drain();
    let mut asked = 0;
    for id in &ids {
        let order = net.node(1).placement(id);
        let pos = |n: u64| order.iter().position(|&x| x == n).unwrap();
        let hinted = hints
            .iter()
            .any(|h| h.chunk == *id && h.node == 2 && h.reason == RepairReason::Corrupt);
        assert_eq!(hinted, pos(2) < pos(3), "chunk {id}");
        asked += usize::from(hinted);
    }
    assert!(asked > 0, "seed gives no chunk read from node 2 first");
    assert!(
        std::fs::read_dir(net._dirs[0].path().join("quarantine"))
            .unwrap()
            .count()
            >= ids.len()
    );
    // Every copy bad: a typed error naming the corrupt sources.
    net.peers.set_fault(3, Some(Fault::CorruptGets));
    let id = ids[0];
    net.node(1).store().delete(&id).unwrap();
    match rt.block_on(net.node(1).fetch_chunk(&id)) {
        Err(DataError::Unavailable {
            id: got,
            tried,
            corrupt,
        }) => assert_eq!((got, tried, corrupt), (id, 3, 2)),
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[test]
fn five_nodes_each_chunk_on_exactly_three() {
    let rt = rt();
    let net = Net::new(5, quick());
    let bytes = pseudo_random(12 * 1024 * 1024, 8);
    let got = rt.block_on(try_ingest(net.node(4), &bytes)).unwrap();
    let m = rt.block_on(net.node(2).manifest(&got.manifest)).unwrap();
    let mut seen = HashSet::new();
    for id in m.entries().iter().map(|e| e.id).chain([got.manifest]) {
        let targets: HashSet<u64> = net.node(1).placement(&id).into_iter().collect();
        assert_eq!(targets.len(), 3);
        assert_eq!(net.holders(&id), targets, "chunk {id}");
        seen.extend(targets);
    }
    assert_eq!(seen.len(), 5, "chunks spread over every node");
    for n in 1..=5 {
        let back = rt.block_on(read_all(net.node(n), m.clone())).unwrap();
        assert!(back == bytes, "read via node {n}");
    }
}

#[test]
fn chunks_in_flight_are_bounded() {
    let rt = rt();
    let config = QuorumConfig {
        in_flight: 2,
        ..quick()
    };
    let net = Net::new(3, config);
    net.peers
        .set_fault(2, Some(Fault::Delay(Duration::from_millis(40))));
    net.peers
        .set_fault(3, Some(Fault::Delay(Duration::from_millis(40))));
    let bytes = pseudo_random(16 * 1024 * 1024, 9);
    let got = rt.block_on(try_ingest(net.node(1), &bytes)).unwrap();
    assert!(got.chunks >= 8);
    let stats = net.peers.stats();
    assert_eq!(stats.puts, 2 * (got.chunks + 1));
    assert!(
        stats.max_concurrent_puts <= 2 * config.in_flight,
        "{stats:?}"
    );
    assert!(net.node(1).repairs().is_empty());
}

#[test]
fn straggler_is_cut_off_after_quorum_and_hinted() {
    let rt = rt();
    let net = Net::new(3, quick());
    net.peers.set_fault(3, Some(Fault::Drop));
    let bytes = pseudo_random(2 * 1024 * 1024, 10);
    let t = Instant::now();
    let got = rt.block_on(try_ingest(net.node(1), &bytes)).unwrap();
    assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
    let hints = net.node(1).repairs().snapshot();
    assert!(hints
        .iter()
        .any(|h| h.chunk == got.manifest && h.node == 3 && h.reason == RepairReason::WriteFailed));
    assert_eq!(net.holders(&got.manifest), [1, 2].into());
}

#[test]
fn chunk_service_rejects_mismatched_bytes() {
    let rt = rt();
    let dir = tempfile::tempdir().unwrap();
    let data = Data::open(dir.path()).unwrap();
    let svc = data.chunk_service();
    let id = ChunkId::of(b"right");
    rt.block_on(async {
        assert!(matches!(
            svc.put(id, Bytes::from_static(b"wrong"), None).await,
            Err(crate::ServeError::Mismatch { .. })
        ));
        assert_eq!(svc.has(vec![id]).await.unwrap(), vec![false]);
        svc.put(id, Bytes::from_static(b"right"), None)
            .await
            .unwrap();
        assert_eq!(svc.has(vec![id]).await.unwrap(), vec![true]);
        assert_eq!(svc.get(id).await.unwrap().unwrap(), &b"right"[..]);
        assert_eq!(svc.get(ChunkId::of(b"none")).await.unwrap(), None);
    });
}

/// The API crate awaits these inside Send futures (axum handlers, spawned tasks).
#[test]
fn public_futures_are_send() {
    fn send<T: Send>(_: &T) {}
    fn is_send_sync<T: Send + Sync + Clone>() {}
    is_send_sync::<Data>();
    let rt = rt();
    let dir = tempfile::tempdir().unwrap();
    let data = Data::open(dir.path()).unwrap();
    let id = ChunkId::of(b"x");
    rt.block_on(async {
        let mut ing = data.ingest();
        send(&ing.write(Bytes::new()));
        send(&data.manifest(&id));
        send(&data.fetch_chunk(&id));
        send(&data.put_chunk(Bytes::new()));
        send(&data.read_range(Manifest::new(Vec::new()), 0, 0));
        send(&ing.finish());
    });
}

impl Net {
    /// Marks node `id` as advertising its chunk store below its reserve, or not.
    fn mark_full(&self, id: u64, full: bool) {
        self.members.send_modify(|m| {
            for n in m.iter_mut().filter(|n| n.id == id) {
                n.full = full;
            }
        });
    }
}

#[test]
fn a_full_node_gets_no_new_chunks_while_uploads_succeed_on_the_others() {
    let rt = rt();
    let net = Net::new(3, quick());
    net.mark_full(3, true);
    let bytes = pseudo_random(3 * 1024 * 1024 + 5, 7);
    let (got, m) = upload(&rt, net.node(1), &bytes);
    for id in chunk_and_manifest_ids(&got, &m) {
        assert_eq!(net.holders(&id), [1, 2].into());
    }
    assert!(
        net.node(1).repairs().is_empty(),
        "no write hint for the full node"
    );
    // Reads are unaffected, from the full node too.
    assert_eq!(rt.block_on(read_all(net.node(3), m)).unwrap(), bytes);
}

#[test]
fn too_few_nodes_with_room_fail_the_upload_as_storage_full() {
    let rt = rt();
    let net = Net::new(3, quick());
    net.mark_full(2, true);
    net.mark_full(3, true);
    let err = rt
        .block_on(try_ingest(net.node(1), &pseudo_random(300_000, 8)))
        .unwrap_err();
    match err {
        DataError::StorageFull {
            writable,
            needed,
            full,
            ..
        } => {
            assert_eq!((writable, needed), (1, 2));
            assert_eq!(full.into_iter().collect::<HashSet<_>>(), [2, 3].into());
        }
        other => panic!("{other:?}"),
    }
    // Nothing went to the full nodes.
    assert_eq!(net.node(2).store().totals().count, 0);
    assert_eq!(net.node(3).store().totals().count, 0);
}

#[test]
fn a_store_below_its_reserve_refuses_even_before_its_advert_arrives() {
    let rt = rt();
    let dir = tempfile::tempdir().unwrap();
    let alone = Data::open(dir.path()).unwrap();
    alone.store().set_reserve(crate::Reserve {
        free: Arc::new(crate::FixedSpace(1 << 20)),
        bytes: 1 << 20,
    });
    let err = rt
        .block_on(try_ingest(&alone, &pseudo_random(300_000, 9)))
        .unwrap_err();
    assert!(
        matches!(&err, DataError::StorageFull { full, .. } if full == &[crate::LOCAL_NODE]),
        "{err:?}"
    );
    assert_eq!(alone.store().totals().count, 0);
}
