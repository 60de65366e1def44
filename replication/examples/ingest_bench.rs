//! Ingest throughput vs single-thread MD5+SHA-512, plus FastCDC vs fixed-size chunking.
//!
//! Run: `cargo run --release -p tessera-replication --example ingest_bench [MiB] [dir]`
//! (default 1024 MiB, a temp dir under $TMPDIR).

use std::collections::HashSet;
use std::time::Instant;

use bytes::Bytes;
use md5::{Digest, Md5};
use sha2::Sha512;
use tessera_replication::{Chunker, Data};

fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len);
    v
}

fn rate(bytes: usize, secs: f64) -> String {
    format!("{:8.1} MB/s", bytes as f64 / secs / 1e6)
}

fn chunk_ids(mut c: Chunker, data: &[u8]) -> Vec<(blake3::Hash, usize)> {
    let mut out = Vec::new();
    let mut emit = |b: Bytes| -> Result<(), ()> {
        out.push((blake3::hash(&b), b.len()));
        Ok(())
    };
    let _ = c.push(data, &mut emit);
    let _ = c.finish(&mut emit);
    out
}

fn dedup_compare() {
    let len = 256 << 20;
    let orig = pseudo_random(len, 42);
    let mut edited = orig.clone();
    let mut x = 12345u64;
    for i in 0..16 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let pos = (x >> 16) as usize % edited.len();
        let n = 1 + (x >> 8) as usize % 100;
        if i % 2 == 0 {
            edited.splice(pos..pos, std::iter::repeat_n(0xAB, n));
        } else {
            let end = (pos + n).min(edited.len());
            edited[pos..end].fill(0xCD);
        }
    }
    for (name, make) in [
        ("FastCDC 256K/1M/4M", (|| Chunker::new()) as fn() -> Chunker),
        ("fixed 4 MiB", || Chunker::fixed(4 << 20)),
    ] {
        let t = Instant::now();
        let a = chunk_ids(make(), &orig);
        let cut_secs = t.elapsed().as_secs_f64();
        let b = chunk_ids(make(), &edited);
        let known: HashSet<_> = a.iter().map(|(h, _)| *h).collect();
        let shared: Vec<_> = b.iter().filter(|(h, _)| known.contains(h)).collect();
        let shared_bytes: usize = shared.iter().map(|(_, l)| l).sum();
        println!(
            "{name:20} cut+blake3 {}  edited image: {}/{} chunks shared, {:.1}% bytes dedup",
            rate(len, cut_secs),
            shared.len(),
            b.len(),
            100.0 * shared_bytes as f64 / edited.len() as f64
        );
    }
    for (name, mut c) in [
        ("FastCDC", Chunker::new()),
        ("fixed 4 MiB", Chunker::fixed(4 << 20)),
    ] {
        let t = Instant::now();
        let mut n = 0usize;
        let _ = c.push::<()>(&orig, |b| {
            n += std::hint::black_box(b).len();
            Ok(())
        });
        println!(
            "{name:20} cutting alone {}",
            rate(n, t.elapsed().as_secs_f64())
        );
    }
}

fn main() {
    let mib: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1024);
    let dir_arg = std::env::args().nth(2);
    let len = mib << 20;
    let buf = Bytes::from(pseudo_random(len, 7));
    let tmp = match &dir_arg {
        Some(d) => tempfile::tempdir_in(d),
        None => tempfile::tempdir(),
    }
    .expect("temp dir");
    let data = Data::open(tmp.path()).expect("open store");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let t = Instant::now();
    let got = rt.block_on(async {
        let mut ing = data.ingest();
        let mut off = 0;
        while off < buf.len() {
            let end = buf.len().min(off + (1 << 20));
            ing.write(buf.slice(off..end)).await.expect("write");
            off = end;
        }
        ing.finish().await.expect("finish")
    });
    let ingest_secs = t.elapsed().as_secs_f64();
    println!(
        "ingest {mib} MiB ({} chunks, fsync'd to {}): {}",
        got.chunks,
        tmp.path().display(),
        rate(len, ingest_secs)
    );

    let t = Instant::now();
    let mut m = Md5::new();
    let mut s = Sha512::new();
    for piece in buf.chunks(1 << 20) {
        m.update(piece);
        s.update(piece);
    }
    let (m, s) = (hex::encode(m.finalize()), hex::encode(s.finalize()));
    let both = t.elapsed().as_secs_f64();
    assert_eq!(m, got.md5);
    assert_eq!(s, got.sha512);
    println!("single-thread md5+sha512:   {}", rate(len, both));
    for (name, f) in [
        (
            "md5",
            (|b: &[u8]| {
                std::hint::black_box(Md5::digest(b));
            }) as fn(&[u8]),
        ),
        ("sha512", |b| {
            std::hint::black_box(Sha512::digest(b));
        }),
        ("blake3", |b| {
            std::hint::black_box(blake3::hash(b));
        }),
    ] {
        let t = Instant::now();
        f(&buf);
        println!(
            "single-thread {name:12} {}",
            rate(len, t.elapsed().as_secs_f64())
        );
    }
    drop(buf);
    dedup_compare();
}
