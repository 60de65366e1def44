//! Integration-style tests of [`Data`]: ingest, read_range, reaper.

use std::convert::Infallible;
use std::fs::File;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures::StreamExt;
use md5::{Digest, Md5};
use proptest::prelude::*;
use sha2::Sha512;

use crate::{ChunkId, Data, DataError, LiveChunks, LiveManifest, Manifest};

pub(crate) fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// No image is live: a reaper may take every chunk not pinned or leased.
pub(crate) struct NothingLive;

impl LiveChunks for NothingLive {
    type Error = Infallible;
    async fn live_manifests(&self) -> Result<Vec<LiveManifest>, Self::Error> {
        Ok(Vec::new())
    }
}

pub(crate) fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

async fn ingest(data: &Data, bytes: &[u8], splits: &[usize]) -> crate::Ingested {
    let mut ing = data.ingest();
    let mut rest = bytes;
    for &s in splits {
        let s = s.min(rest.len());
        ing.write(Bytes::copy_from_slice(&rest[..s])).await.unwrap();
        rest = &rest[s..];
    }
    ing.write(Bytes::copy_from_slice(rest)).await.unwrap();
    ing.finish().await.unwrap()
}

pub(crate) async fn read_all(
    data: &Data,
    m: Manifest,
    start: u64,
    end: u64,
) -> Result<Vec<u8>, DataError> {
    let mut s = Box::pin(data.read_range(m, start, end));
    let mut out = Vec::new();
    while let Some(b) = s.next().await {
        out.extend_from_slice(&b?);
    }
    Ok(out)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn pipeline_hashes_match_one_shot(
        len in 0usize..3_000_000,
        seed in any::<u64>(),
        splits in prop::collection::vec(0usize..1_500_000, 0..6),
    ) {
        let bytes = pseudo_random(len, seed);
        let dir = tempfile::tempdir().unwrap();
        let data = Data::open(dir.path()).unwrap();
        let rt = rt();
        let got = rt.block_on(ingest(&data, &bytes, &splits));
        prop_assert_eq!(got.size, len as u64);
        prop_assert_eq!(got.md5, hex::encode(Md5::digest(&bytes)));
        prop_assert_eq!(got.sha512, hex::encode(Sha512::digest(&bytes)));
        let m = rt.block_on(data.manifest(&got.manifest)).unwrap();
        prop_assert_eq!(m.size(), len as u64);
        prop_assert_eq!(m.entries().len(), got.chunks);
        let back = rt.block_on(read_all(&data, m, 0, len as u64)).unwrap();
        prop_assert!(back == bytes);
    }
}

#[test]
fn read_range_across_chunk_boundaries() {
    let rt = rt();
    let dir = tempfile::tempdir().unwrap();
    let data = Data::open(dir.path()).unwrap();
    let bytes = pseudo_random(9 * 1024 * 1024 + 123, 7);
    let got = rt.block_on(ingest(&data, &bytes, &[1, 4096, 3_000_000]));
    assert!(got.chunks >= 3, "{} chunks", got.chunks);
    let m = rt.block_on(data.manifest(&got.manifest)).unwrap();
    let ends: Vec<u64> = m
        .entries()
        .iter()
        .scan(0u64, |acc, e| {
            *acc += u64::from(e.len);
            Some(*acc)
        })
        .collect();
    let b = ends[0];
    let n = bytes.len() as u64;
    for (s, e) in [
        (0, 1),
        (b - 1, b + 1),
        (b, b + 10),
        (b - 5, ends[2] + 5),
        (n - 10, n),
        (5, 5),
        (0, n),
    ] {
        let out = rt.block_on(read_all(&data, m.clone(), s, e)).unwrap();
        assert_eq!(out, &bytes[s as usize..e as usize], "range {s}..{e}");
    }
    assert!(matches!(
        rt.block_on(read_all(&data, m.clone(), 0, n + 1)),
        Err(DataError::BadRange { .. })
    ));
    // Earlier chunks are not read: deleting chunk 0 does not affect a range past it.
    data.store().delete(&m.entries()[0].id).unwrap();
    let out = rt.block_on(read_all(&data, m.clone(), b, b + 100)).unwrap();
    assert_eq!(out, &bytes[b as usize..b as usize + 100]);
    assert!(rt.block_on(read_all(&data, m.clone(), 0, 10)).is_err());
}

#[test]
fn read_detects_corruption() {
    let rt = rt();
    let dir = tempfile::tempdir().unwrap();
    let data = Data::open(dir.path()).unwrap();
    let bytes = pseudo_random(3 * 1024 * 1024, 3);
    let got = rt.block_on(ingest(&data, &bytes, &[]));
    let m = rt.block_on(data.manifest(&got.manifest)).unwrap();
    let victim = m.entries()[0].id;
    let path = data.store().path_of(&victim);
    let mut raw = std::fs::read(&path).unwrap();
    raw[17] ^= 1;
    std::fs::write(&path, raw).unwrap();
    let err = rt.block_on(read_all(&data, m, 0, 10)).unwrap_err();
    // A cluster of one has no other copy: the corrupt local one counts as the only source.
    assert!(matches!(
        err,
        DataError::Unavailable { id, tried: 1, corrupt: 1 } if id == victim
    ));
    assert_eq!(data.repairs().len(), 1);
    assert!(!data.store().has(&victim).unwrap());
}

#[test]
fn identical_images_dedup() {
    let rt = rt();
    let dir = tempfile::tempdir().unwrap();
    let data = Data::open(dir.path()).unwrap();
    let bytes = pseudo_random(5 * 1024 * 1024, 11);
    let a = rt.block_on(ingest(&data, &bytes, &[]));
    let files = data.store().list().unwrap().len();
    let b = rt.block_on(ingest(&data, &bytes, &[999, 12345]));
    let fields = |i: &crate::Ingested| {
        (
            i.manifest,
            i.size,
            i.md5.clone(),
            i.sha512.clone(),
            i.chunks,
        )
    };
    assert_eq!(fields(&a), fields(&b));
    assert_eq!(data.store().list().unwrap().len(), files);
    assert_eq!(files, a.chunks + 1);
}

#[test]
fn empty_image() {
    let rt = rt();
    let dir = tempfile::tempdir().unwrap();
    let data = Data::open(dir.path()).unwrap();
    let got = rt.block_on(data.ingest().finish()).unwrap();
    assert_eq!(got.size, 0);
    assert_eq!(got.chunks, 0);
    assert_eq!(got.md5, "d41d8cd98f00b204e9800998ecf8427e");
    let m = rt.block_on(data.manifest(&got.manifest)).unwrap();
    assert!(rt.block_on(read_all(&data, m, 0, 0)).unwrap().is_empty());
}

pub(crate) struct Live(pub(crate) Vec<ChunkId>);

impl LiveChunks for Live {
    type Error = Infallible;
    async fn live_manifests(&self) -> Result<Vec<LiveManifest>, Infallible> {
        Ok(self
            .0
            .iter()
            .copied()
            .map(LiveManifest::at_default)
            .collect())
    }
}

fn age(data: &Data, id: &ChunkId, by: Duration) {
    File::open(data.store().path_of(id))
        .unwrap()
        .set_modified(SystemTime::now() - by)
        .unwrap();
}

#[test]
fn reaper_keeps_live_and_young_deletes_old_orphans() {
    let rt = rt();
    let dir = tempfile::tempdir().unwrap();
    let data = Data::open(dir.path()).unwrap();
    let live_img = rt.block_on(ingest(&data, &pseudo_random(2_500_000, 1), &[]));
    let dead_img = rt.block_on(ingest(&data, &pseudo_random(2_500_000, 2), &[]));
    // Its upload is over and no record names it.
    drop(dead_img.hold);
    let (young, _) = data.store().put(b"young orphan").unwrap();
    let hour = Duration::from_secs(3600);
    for e in data.store().list().unwrap() {
        if e.id != young {
            age(&data, &e.id, 2 * hour);
        }
    }
    let old_tmp = dir.path().join("tmp/leftover.tmp");
    std::fs::write(&old_tmp, b"partial").unwrap();
    File::options()
        .write(true)
        .open(&old_tmp)
        .unwrap()
        .set_modified(SystemTime::now() - 2 * hour)
        .unwrap();

    let live_m = rt.block_on(data.manifest(&live_img.manifest)).unwrap();
    let dead_m = rt.block_on(data.manifest(&dead_img.manifest)).unwrap();
    let before = data.store().list().unwrap().len();
    let report = rt
        .block_on(data.reap_once(&Live(vec![live_img.manifest]), hour))
        .unwrap();
    assert_eq!(report.manifests, 1);
    assert_eq!(report.scanned, before);
    assert_eq!(report.deleted, dead_img.chunks + 1);
    assert_eq!(report.kept_young, 1);
    assert_eq!(report.tmp_deleted, 1);
    assert!(!old_tmp.exists());
    assert!(data.store().has(&young).unwrap());
    assert!(data.store().has(&live_img.manifest).unwrap());
    for e in live_m.entries() {
        assert!(data.store().has(&e.id).unwrap());
    }
    assert!(!data.store().has(&dead_img.manifest).unwrap());
    for e in dead_m.entries() {
        assert!(!data.store().has(&e.id).unwrap());
    }
    let back = rt
        .block_on(read_all(&data, live_m, 0, live_img.size))
        .unwrap();
    assert_eq!(back, pseudo_random(2_500_000, 1));
}

#[test]
fn reaper_aborts_when_live_manifest_missing() {
    let rt = rt();
    let dir = tempfile::tempdir().unwrap();
    let data = Data::open(dir.path()).unwrap();
    let (orphan, _) = data.store().put(b"orphan").unwrap();
    age(&data, &orphan, Duration::from_secs(7200));
    let missing = ChunkId::of(b"not here");
    let err = rt
        .block_on(data.reap_once(&Live(vec![missing]), Duration::from_secs(60)))
        .unwrap_err();
    assert!(matches!(err, DataError::ManifestUnavailable(id) if id == missing));
    assert!(data.store().has(&orphan).unwrap());
}

#[test]
fn abandoned_ingest_leaves_only_reapable_chunks() {
    let rt = rt();
    let dir = tempfile::tempdir().unwrap();
    let data = Data::open(dir.path()).unwrap();
    rt.block_on(async {
        let mut ing = data.ingest();
        ing.write(Bytes::from(pseudo_random(10 * 1024 * 1024, 5)))
            .await
            .unwrap();
        drop(ing);
    });
    // Let the worker threads wind down (they stop on the closed channels).
    let mut last = usize::MAX;
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(100));
        let tmp = std::fs::read_dir(dir.path().join("tmp")).unwrap().count();
        let n = data.store().list().unwrap().len();
        if tmp == 0 && n == last {
            break;
        }
        last = n;
    }
    assert_eq!(
        std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
        0
    );
    let chunks = data.store().list().unwrap();
    assert!(!chunks.is_empty());
    for e in &chunks {
        age(&data, &e.id, Duration::from_secs(7200));
    }
    let r = rt
        .block_on(data.reap_once(&Live(vec![]), Duration::from_secs(3600)))
        .unwrap();
    assert_eq!(r.deleted, chunks.len());
    assert!(data.store().list().unwrap().is_empty());
}

#[test]
fn in_flight_chunks_are_pinned() {
    let rt = rt();
    let dir = tempfile::tempdir().unwrap();
    let data = Data::open(dir.path()).unwrap();
    rt.block_on(async {
        let mut ing = data.ingest();
        ing.write(Bytes::from(pseudo_random(10 * 1024 * 1024, 9)))
            .await
            .unwrap();
        // Wait until some chunks are on disk, then make them look ancient.
        let mut n = 0;
        for _ in 0..100 {
            n = data.store().list().unwrap().len();
            if n > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(n > 0);
        for e in data.store().list().unwrap() {
            age(&data, &e.id, Duration::from_secs(7200));
        }
        let r = data
            .reap_once(&Live(vec![]), Duration::from_secs(3600))
            .await
            .unwrap();
        assert_eq!(r.deleted, 0);
        let got = ing.finish().await.unwrap();
        let m = data.manifest(&got.manifest).await.unwrap();
        for e in m.entries() {
            assert!(data.store().has(&e.id).unwrap());
        }
    });
}
