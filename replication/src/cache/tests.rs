//! The image cache over in-process peers: prefetching, pinning, serving without peers, cache
//! on read, LRU pruning, the records across a restart.

use std::collections::HashMap;
use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;

use super::prefetch::{CacheImages, CacheTarget, Prefetcher};
use super::ImageCache;
use crate::quorum_tests::{quick, Net};
use crate::tests::{pseudo_random, rt, NothingLive};
use crate::worker::{Step, Worker};
use crate::{ChunkId, Data, Manifest, QuorumConfig};

/// Image records in memory: id -> the active image's data.
#[derive(Clone, Default)]
struct Images(HashMap<String, CacheTarget>);

impl CacheImages for Images {
    type Error = Infallible;
    async fn active_image(&self, id: &str) -> Result<Option<CacheTarget>, Infallible> {
        Ok(self.0.get(id).cloned())
    }
}

/// The upload's leases on other nodes: short, so the tests can outlive them.
const LEASE: Duration = Duration::from_millis(200);

async fn upload(data: &Data, bytes: &[u8]) -> (ChunkId, Manifest) {
    let mut ing = data.ingest();
    ing.write(Bytes::copy_from_slice(bytes)).await.unwrap();
    let done = ing.finish().await.unwrap();
    (done.manifest, data.manifest(&done.manifest).await.unwrap())
}

fn all_ids(id: ChunkId, m: &Manifest) -> Vec<ChunkId> {
    m.entries().iter().map(|e| e.id).chain([id]).collect()
}

async fn drain(p: &mut Prefetcher<Images>) {
    for _ in 0..100 {
        if let Step::Idle(_) = p.step().await.unwrap() {
            return;
        }
    }
    panic!("prefetcher never went idle");
}

async fn read_all(data: &Data, m: &Manifest) -> Vec<u8> {
    let mut out = Vec::new();
    let mut s = std::pin::pin!(data.read_range(m.clone(), 0, m.size()));
    while let Some(piece) = s.next().await {
        out.extend_from_slice(&piece.unwrap());
    }
    out
}

/// Four nodes, R = 2, short upload leases.
fn four_nodes_r2() -> Net {
    Net::new(
        4,
        QuorumConfig {
            r: 2,
            upload_lease: LEASE,
            ..quick()
        },
    )
}

/// Node 4 of a four-node cluster with R = 2 lacks most chunks of an image; queued, the
/// prefetcher brings them all (a hit count of zero, Glance's fields), its reaper cannot take
/// them while cached, and the image reads back with every other node down. Removed from the
/// cache, the chunks are the reaper's again.
#[test]
fn prefetched_images_are_whole_pinned_and_served_without_peers() {
    let rt = rt();
    let net = four_nodes_r2();
    let bytes = pseudo_random(9_000_000, 31);
    rt.block_on(async {
        let (manifest_id, m) = upload(net.node(1), &bytes).await;
        let ids = all_ids(manifest_id, &m);
        let here = net.node(4).clone();
        assert!(
            ids.iter().any(|id| !here.store().has(id).unwrap()),
            "node 4 lacks chunks"
        );
        let dir = tempfile::tempdir().unwrap();
        // Past the upload's leases, so only the cache's pins keep node 4's copies.
        tokio::time::sleep(LEASE * 2).await;
        let cache = ImageCache::open(here.clone(), dir.path(), 1 << 30).unwrap();
        let images = Images(HashMap::from([(
            "img".to_string(),
            CacheTarget {
                manifest: manifest_id,
                checksum: Some("md5".into()),
            },
        )]));
        let mut p = Prefetcher::new(cache.clone(), images);
        assert!(cache.queue("img").unwrap());
        assert!(!cache.queue("img").unwrap(), "queued once");
        assert_eq!(p.report().queue_len, 1);
        drain(&mut p).await;
        let (cached, queued) = cache.listing();
        assert!(queued.is_empty());
        assert_eq!(cached.len(), 1);
        assert_eq!(
            (cached[0].image_id.as_str(), cached[0].size, cached[0].hits),
            ("img", 9_000_000, 0)
        );
        assert_eq!(cached[0].checksum.as_deref(), Some("md5"));
        assert!(ids.iter().all(|id| here.store().has(id).unwrap()));
        assert!(!cache.queue("img").unwrap(), "cached already");
        here.reap_once(&NothingLive, Duration::ZERO).await.unwrap();
        assert!(ids.iter().all(|id| here.store().has(id).unwrap()), "pinned");
        for n in 1..=3 {
            net.peers.set_down(n, true);
        }
        assert_eq!(read_all(&here, &m).await, bytes);
        assert!(cache.hit("img").unwrap());
        assert_eq!(cache.listing().0[0].hits, 1);
        assert!(cache.remove("img").unwrap());
        here.reap_once(&NothingLive, Duration::ZERO).await.unwrap();
        assert!(
            ids.iter().all(|id| !here.store().has(id).unwrap()),
            "unpinned"
        );
    });
}

/// A whole read through `tee` caches the image before its last bytes go out; a read given
/// up half-way caches nothing.
#[test]
fn a_full_read_caches_on_the_way_and_a_partial_one_does_not() {
    let rt = rt();
    let net = four_nodes_r2();
    let bytes = pseudo_random(9_000_000, 32);
    rt.block_on(async {
        let (manifest_id, m) = upload(net.node(1), &bytes).await;
        assert!(m.entries().len() >= 2);
        let here = net.node(4).clone();
        let dir = tempfile::tempdir().unwrap();
        let cache = ImageCache::open(here.clone(), dir.path(), 1 << 30).unwrap();
        let whole = here.read_range(m.clone(), 0, m.size());
        let mut s = Box::pin(cache.tee("img", manifest_id, &m, None, whole));
        assert!(s.next().await.unwrap().is_ok());
        drop(s);
        assert!(!cache.is_cached("img"), "half a read caches nothing");
        let whole = here.read_range(m.clone(), 0, m.size());
        let mut out = Vec::new();
        let mut s = std::pin::pin!(cache.tee("img", manifest_id, &m, None, whole));
        while let Some(piece) = s.next().await {
            out.extend_from_slice(&piece.unwrap());
        }
        assert_eq!(out, bytes);
        assert!(cache.is_cached("img"));
        assert!(all_ids(manifest_id, &m)
            .iter()
            .all(|id| here.store().has(id).unwrap()));
    });
}

/// Past `max_size` the least recently accessed image goes first; the records and pins come
/// back after a restart, and an image missing a chunk is dropped then.
#[test]
fn lru_pruning_and_records_across_a_restart() {
    let rt = rt();
    let dir = tempfile::tempdir().unwrap();
    let data = Data::open(&dir.path().join("chunks")).unwrap();
    rt.block_on(async {
        let mut manifests = Vec::new();
        for seed in 0..4u64 {
            manifests.push(upload(&data, &pseudo_random(1_000_000, 40 + seed)).await.0);
        }
        let cache = ImageCache::open(data.clone(), dir.path(), 3_500_000).unwrap();
        for (i, m) in manifests.iter().take(3).enumerate() {
            cache
                .fill(&format!("i{i}"), *m, None)
                .await
                .unwrap()
                .unwrap();
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(cache.hit("i0").unwrap());
        cache.fill("i3", manifests[3], None).await.unwrap().unwrap();
        let names = |c: &ImageCache| -> Vec<String> {
            c.listing().0.into_iter().map(|r| r.image_id).collect()
        };
        assert_eq!(
            names(&cache),
            ["i0", "i2", "i3"],
            "i1 was the least recently used"
        );
        assert!(cache.size() <= 3_500_000);
        drop(cache);
        let cache = ImageCache::open(data.clone(), dir.path(), 3_500_000).unwrap();
        assert_eq!(names(&cache), ["i0", "i2", "i3"]);
        assert_eq!(cache.listing().0[0].hits, 1);
        assert_eq!(cache.clear(true, true).unwrap().cached, 3);
        let m = data.manifest(&manifests[0]).await.unwrap();
        cache.fill("i0", manifests[0], None).await.unwrap().unwrap();
        drop(cache);
        data.store().delete(&m.entries()[0].id).unwrap();
        let cache = ImageCache::open(data, dir.path(), 3_500_000).unwrap();
        assert!(names(&cache).is_empty(), "no longer whole");
    });
}
