//! Cost of an anti-entropy pass over an unchanged cluster: N in-process nodes (R=3) over
//! `ChannelPeers`, C small chunks, then timed passes of one node's replicator, with the bytes
//! of digests and id lists its peers sent back. Bucket-digest calls list the peer's store
//! from disk each time, as on a real node; only the network is in-process.
//!
//! Run: `cargo run --release -p tessera-replication --example antientropy_bench [chunks] [nodes]`
//! (default 10000 chunks, 3 nodes).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tessera_replication::testing::ChannelPeers;
use tessera_replication::{
    Data, NodeInfo, QuorumConfig, Replicator, ReplicatorConfig, Step, Worker,
};
use tokio::sync::watch;

fn main() {
    let mut args = std::env::args().skip(1);
    let chunks: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let nodes: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let infos: Vec<NodeInfo> = (1..=nodes).map(|i| NodeInfo::new(i, "z", 1)).collect();
    let (_members, rx) = watch::channel(infos);
    let peers = Arc::new(ChannelPeers::new());
    let dirs: Vec<tempfile::TempDir> = (0..nodes)
        .map(|_| tempfile::tempdir().expect("dir"))
        .collect();
    let data: Vec<Data> = (1..=nodes)
        .map(|i| {
            let d = Data::clustered(
                dirs[i as usize - 1].path(),
                i,
                rx.clone(),
                peers.clone(),
                QuorumConfig::with_r(3),
            )
            .expect("open");
            peers.add(i, d.chunk_service());
            d
        })
        .collect();
    let t = Instant::now();
    rt.block_on(async {
        for i in 0..chunks {
            let bytes = Bytes::from(format!("bench chunk {i:016}").repeat(4).into_bytes());
            data[(i % nodes) as usize]
                .put_chunk(bytes)
                .await
                .expect("put");
        }
    });
    println!(
        "{chunks} chunks on {nodes} nodes (R=3) written in {:.1}s",
        t.elapsed().as_secs_f64()
    );
    let cfg = ReplicatorConfig {
        interval: Duration::ZERO,
        batch: 64,
        handoff_grace: Duration::from_secs(600),
    };
    let mut rep = Replicator::new(&data[0], cfg);
    for round in 0..4 {
        let before = peers.stats();
        let passes = rep.report().passes;
        let t = Instant::now();
        let mut steps = 0;
        while rep.report().passes == passes {
            match rt.block_on(rep.step()) {
                Ok(Step::Busy) | Ok(_) => steps += 1,
                Err(e) => panic!("step failed: {e}"),
            }
        }
        let after = peers.stats();
        println!(
            "pass {round}: {:7.1} ms, {steps} steps, {} digest calls, {} bucket listings, {} bytes received, {} puts, under_replicated {}",
            t.elapsed().as_secs_f64() * 1e3,
            after.digests - before.digests,
            after.bucket_ids - before.bucket_ids,
            after.sync_bytes - before.sync_bytes,
            after.puts - before.puts,
            rep.report().counters["under_replicated"],
        );
    }
}
