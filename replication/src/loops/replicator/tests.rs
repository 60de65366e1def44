//! The replicator over [`crate::testing::ChannelPeers`]: anti-entropy, handoff, repair queue,
//! node loss, full repair and drain.

use std::collections::HashSet;
use std::time::Duration;

use bytes::Bytes;

use crate::quorum_tests::{chunk_and_manifest_ids, quick, upload, Net};
use crate::tests::{pseudo_random, rt};
use crate::{
    ChunkId, Data, Policy, RepairHint, RepairReason, Replicator, ReplicatorConfig, Step, Worker,
};

fn eager() -> ReplicatorConfig {
    ReplicatorConfig {
        interval: Duration::ZERO,
        batch: 64,
        handoff_grace: Duration::ZERO,
    }
}

/// Steps `rep` until it completes one more pass (repairs it queued included).
fn pass(rt: &tokio::runtime::Runtime, rep: &mut Replicator) {
    let before = rep.report().passes;
    for _ in 0..100_000 {
        let step = rt.block_on(rep.step()).unwrap();
        if rep.report().passes > before && matches!(step, Step::Idle(_)) {
            return;
        }
    }
    panic!("pass never ended: {:?}", rep.report());
}

/// One pass on every node of `net`, in id order.
fn pass_all(rt: &tokio::runtime::Runtime, net: &Net, reps: &mut [Replicator]) {
    for rep in reps.iter_mut() {
        pass(rt, rep);
    }
    assert_eq!(reps.len(), net.nodes.len());
}

fn replicators(net: &Net, cfg: ReplicatorConfig) -> Vec<Replicator> {
    net.nodes.iter().map(|d| Replicator::new(d, cfg)).collect()
}

/// `n` small distinct chunks written through node 1 (each to its R targets).
fn put_chunks(rt: &tokio::runtime::Runtime, data: &Data, n: u64) -> Vec<ChunkId> {
    (0..n)
        .map(|i| {
            let bytes = Bytes::from(format!("chunk number {i}").into_bytes());
            rt.block_on(data.put_chunk(bytes)).unwrap()
        })
        .collect()
}

fn counter(rep: &Replicator, name: &str) -> u64 {
    rep.report().counters[name]
}

#[test]
fn anti_entropy_finds_and_fixes_a_missing_chunk() {
    let rt = rt();
    let net = Net::new(4, quick());
    let ids = put_chunks(&rt, net.node(1), 200);
    let victim = ids[17];
    let targets = net.node(1).placement(&victim);
    let lost_on = targets[0];
    assert!(net.node(lost_on).store().delete(&victim).unwrap());
    // Any other target's pass notices and pushes it back.
    let other = targets[1];
    let mut rep = Replicator::new(net.node(other), eager());
    pass(&rt, &mut rep);
    let holders: HashSet<u64> = targets.iter().copied().collect();
    assert_eq!(net.holders(&victim), holders);
    assert_eq!(counter(&rep, "under_replicated"), 1);
    assert_eq!(counter(&rep, "repaired"), 1);
    // The next pass finds the cluster whole.
    pass(&rt, &mut rep);
    assert_eq!(counter(&rep, "under_replicated"), 0);
    for id in &ids {
        let t: HashSet<u64> = net.node(1).placement(id).into_iter().collect();
        assert_eq!(net.holders(id), t, "{id}");
    }
}

#[test]
fn a_wiped_node_pulls_its_chunks_back() {
    let rt = rt();
    let net = Net::new(3, quick());
    let ids = put_chunks(&rt, net.node(1), 100);
    for id in &ids {
        net.node(2).store().delete(id).unwrap();
    }
    let mut rep = Replicator::new(net.node(2), eager());
    pass(&rt, &mut rep);
    for id in &ids {
        assert_eq!(net.holders(id), [1, 2, 3].into());
    }
}

#[test]
fn unchanged_cluster_pass_exchanges_only_digests() {
    let rt = rt();
    let net = Net::new(4, quick());
    put_chunks(&rt, net.node(1), 300);
    let mut reps = replicators(&net, eager());
    pass_all(&rt, &net, &mut reps);
    let before = net.peers.stats();
    pass(&rt, &mut reps[0]);
    let after = net.peers.stats();
    assert_eq!(
        after.digests - before.digests,
        3,
        "one digest call per peer"
    );
    assert_eq!(after.bucket_ids, before.bucket_ids, "no bucket listed");
    assert_eq!(after.sync_bytes - before.sync_bytes, 3 * 256 * 32);
    assert_eq!(after.puts, before.puts);
    assert_eq!(after.gets, before.gets);
    assert_eq!(after.verify, before.verify);
    assert_eq!(after.has, before.has);
    assert_eq!(counter(&reps[0], "under_replicated"), 0);
}

/// A chunk only node `holder` has, though it is none of its targets.
fn stray_chunk(net: &Net, holder: u64) -> ChunkId {
    (0u32..)
        .map(|i| format!("stray {i}").into_bytes())
        .find_map(|b| {
            let id = ChunkId::of(&b);
            (!net.node(1).placement(&id).contains(&holder)).then(|| {
                net.node(holder).store().put(&b).unwrap();
                id
            })
        })
        .unwrap()
}

#[test]
fn handoff_never_drops_the_last_copy() {
    let rt = rt();
    let net = Net::new(4, quick());
    let holder = 4;
    let id = stray_chunk(&net, holder);
    let targets = net.node(1).placement(&id);
    // One target unreachable: copies go to the others, the local copy stays.
    net.peers.set_down(targets[0], true);
    let mut rep = Replicator::new(net.node(holder), eager());
    pass(&rt, &mut rep);
    let mut expect: HashSet<u64> = targets[1..].iter().copied().collect();
    expect.insert(holder);
    assert_eq!(net.holders(&id), expect);
    assert_eq!(counter(&rep, "handed_off"), 0);
    // Every target reachable: it gets its copy, then the stray copy goes.
    net.peers.set_down(targets[0], false);
    pass(&rt, &mut rep);
    assert_eq!(net.holders(&id), targets.iter().copied().collect());
    assert_eq!(counter(&rep, "handed_off"), 1);
}

#[test]
fn handoff_leaves_young_chunks_alone() {
    let rt = rt();
    let net = Net::new(4, quick());
    let id = stray_chunk(&net, 4);
    let cfg = ReplicatorConfig {
        handoff_grace: Duration::from_secs(3600),
        ..eager()
    };
    let mut rep = Replicator::new(net.node(4), cfg);
    pass(&rt, &mut rep);
    assert_eq!(net.holders(&id), [4].into());
    assert_eq!(net.peers.stats().puts, 0);
}

#[test]
fn repair_queue_survives_restart_and_backs_off() {
    let rt = rt();
    let dir = tempfile::tempdir().unwrap();
    let id = ChunkId::of(b"nowhere");
    let hint = RepairHint {
        chunk: id,
        node: crate::LOCAL_NODE,
        reason: RepairReason::Corrupt,
    };
    {
        let data = Data::open(dir.path()).unwrap();
        assert!(data.repairs().push(hint));
        let mut rep = Replicator::new(&data, eager());
        // No copy anywhere: the attempt fails and the entry waits a second before retrying.
        let step = rt.block_on(rep.step()).unwrap();
        assert_eq!(step, Step::Busy);
        assert_eq!(counter(&rep, "failed"), 1);
        assert!(data
            .repairs()
            .due(std::time::SystemTime::now(), 10)
            .is_empty());
    }
    let data = Data::open(dir.path()).unwrap();
    assert_eq!(data.repairs().snapshot(), vec![hint]);
    let later = std::time::SystemTime::now() + Duration::from_secs(2);
    let due = data.repairs().due(later, 10);
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].attempts, 1);
    // Once the chunk exists the entry resolves.
    data.store().put(b"nowhere").unwrap();
    let mut rep = Replicator::new(&data, eager());
    std::thread::sleep(Duration::from_millis(1100));
    rt.block_on(rep.step()).unwrap();
    assert!(data.repairs().is_empty());
}

#[test]
fn removed_node_chunks_return_to_r_without_a_command() {
    let rt = rt();
    let net = Net::new(4, quick());
    let bytes = pseudo_random(3 * 1024 * 1024, 9);
    let (got, m) = upload(&rt, net.node(1), &bytes);
    let mut ids = chunk_and_manifest_ids(&got, &m);
    ids.extend(put_chunks(&rt, net.node(2), 100));
    let mut reps = replicators(&net, eager());
    // Node 4 is lost for good and removed from the membership.
    net.peers.set_down(4, true);
    net.members.send_modify(|m| m.retain(|n| n.id != 4));
    reps.truncate(3);
    for rep in reps.iter_mut() {
        pass(&rt, rep);
    }
    for id in &ids {
        let live: HashSet<u64> = net.holders(id).into_iter().filter(|n| *n != 4).collect();
        assert_eq!(live, [1, 2, 3].into(), "{id}");
    }
}

#[test]
fn full_repair_restores_every_referenced_chunk() {
    let rt = rt();
    let net = Net::new(4, quick());
    let bytes = pseudo_random(3 * 1024 * 1024, 5);
    let (got, m) = upload(&rt, net.node(1), &bytes);
    let ids = chunk_and_manifest_ids(&got, &m);
    for id in &ids {
        net.node(2).store().delete(id).unwrap();
        net.node(3).store().delete(id).unwrap();
    }
    let orphan = stray_chunk(&net, 1);
    let report = rt
        .block_on(
            net.node(1)
                .repair_referenced(vec![crate::LiveManifest::at_default(got.manifest)]),
        )
        .unwrap();
    assert_eq!(report.referenced, ids.len() as u64);
    assert!(report.missing > 0);
    assert_eq!(report.repaired, report.missing);
    assert_eq!(report.failed, 0);
    assert!(report.unavailable.is_empty());
    assert_eq!(report.orphans, 1);
    for id in &ids {
        let t: HashSet<u64> = net.node(1).placement(id).into_iter().collect();
        assert_eq!(net.holders(id), t);
    }
    assert!(net.holders(&orphan).contains(&1));
}

#[test]
fn drained_node_can_go_without_losing_a_replica() {
    let rt = rt();
    let net = Net::new(4, quick());
    let ids = put_chunks(&rt, net.node(1), 200);
    let report = rt.block_on(net.node(4).drain()).unwrap();
    assert_eq!(report.remaining, 0);
    assert!(report.pushed > 0);
    // While draining, node 4 is no target of new writes.
    let fresh = put_chunks(&rt, net.node(4), 20);
    net.peers.set_down(4, true);
    net.members.send_modify(|m| m.retain(|n| n.id != 4));
    for id in ids.iter().chain(&fresh) {
        let live: HashSet<u64> = net.holders(id).into_iter().filter(|n| *n != 4).collect();
        assert_eq!(live, [1, 2, 3].into(), "{id}");
    }
}

#[test]
fn chunks_the_reaper_found_unreferenced_are_not_copied_back() {
    let rt = rt();
    let net = Net::new(4, quick());
    // Chunks no manifest references: every reaper pass finds them orphaned (young: kept).
    let ids = put_chunks(&rt, net.node(1), 20);
    for d in &net.nodes {
        rt.block_on(d.reap_once(&crate::tests::Live(Vec::new()), Duration::from_secs(3600)))
            .unwrap();
    }
    // One node's reaper deleted its copy; the others' have not yet.
    let victim = ids[3];
    let gone_from = net.node(1).placement(&victim)[0];
    assert!(net.node(gone_from).store().delete(&victim).unwrap());
    let mut reps = replicators(&net, eager());
    pass_all(&rt, &net, &mut reps);
    assert!(
        !net.holders(&victim).contains(&gone_from),
        "the replicator copied an orphan back"
    );
}

/// Live manifests at the copies their image copies ask for.
struct LiveAt(Vec<crate::LiveManifest>);

impl crate::LiveChunks for LiveAt {
    type Error = std::convert::Infallible;
    async fn live_manifests(&self) -> Result<Vec<crate::LiveManifest>, Self::Error> {
        Ok(self.0.clone())
    }
}

/// A reaper pass on every node of `net` with `live` (nothing old enough to delete).
fn reap_all(rt: &tokio::runtime::Runtime, net: &Net, live: &[crate::LiveManifest]) {
    for d in &net.nodes {
        rt.block_on(d.reap_once(&LiveAt(live.to_vec()), Duration::from_secs(3600)))
            .unwrap();
    }
}

#[test]
fn copies_follow_the_most_demanding_store() {
    let rt = rt();
    let net = Net::new(5, quick());
    let mut ing = net.node(1).ingest_under(Policy::everywhere(2));
    rt.block_on(ing.write(Bytes::from(pseudo_random(3 * 1024 * 1024, 9))))
        .unwrap();
    let got = rt.block_on(ing.finish()).unwrap();
    let m = rt.block_on(net.node(1).manifest(&got.manifest)).unwrap();
    let ids = chunk_and_manifest_ids(&got, &m);
    let manifest = got.manifest;
    drop(got);
    let at = |r| crate::LiveManifest {
        id: manifest,
        policies: vec![Policy::everywhere(r)],
    };
    let copies = |n: usize| {
        for id in &ids {
            assert_eq!(net.holders(id).len(), n, "{id}");
            let targets: HashSet<u64> = net.node(2).placement(id).into_iter().collect();
            assert_eq!(net.holders(id), targets, "{id}");
        }
    };
    // Written to a store at R=2 (the configured R being 3): two copies, and the loops keep
    // two once the reapers have read the records.
    let mut reps = replicators(&net, eager());
    reap_all(&rt, &net, &[at(2)]);
    copies(2);
    pass_all(&rt, &net, &mut reps);
    copies(2);
    // Copied into a store at R=3: the third copy is there when the copy returns.
    let written = rt
        .block_on(net.node(3).raise_copies(manifest, &Policy::everywhere(3)))
        .unwrap();
    assert_eq!(written, ids.len() as u64);
    reap_all(&rt, &net, &[at(2), at(3)]);
    copies(3);
    pass_all(&rt, &net, &mut reps);
    copies(3);
    // The R=3 copy deleted: the chunks fall back to two copies, the surplus handed off.
    reap_all(&rt, &net, &[at(2)]);
    pass_all(&rt, &net, &mut reps);
    copies(2);
}

#[test]
fn copies_stay_in_each_stores_zones() {
    let rt = rt();
    // Nodes 1 and 4 are in zone z1, 2 and 5 in z2, 3 in z0. Short upload leases, so the
    // upload's copies can be handed off once it is done.
    let lease = Duration::from_millis(300);
    let net = Net::new(
        5,
        crate::QuorumConfig {
            upload_lease: lease,
            ..quick()
        },
    );
    let z1 = Policy::in_zones(2, ["z1".to_string()]);
    let z0 = Policy::in_zones(1, ["z0".to_string()]);
    // Written from a node outside the store's zones: the copies still go only there.
    let mut ing = net.node(2).ingest_under(z1.clone());
    rt.block_on(ing.write(Bytes::from(pseudo_random(3 * 1024 * 1024, 11))))
        .unwrap();
    let got = rt.block_on(ing.finish()).unwrap();
    let m = rt.block_on(net.node(1).manifest(&got.manifest)).unwrap();
    let ids = chunk_and_manifest_ids(&got, &m);
    let manifest = got.manifest;
    drop(got);
    let under = |policies: Vec<Policy>| crate::LiveManifest {
        id: manifest,
        policies,
    };
    let held_on = |want: &[u64]| {
        let want: HashSet<u64> = want.iter().copied().collect();
        for id in &ids {
            assert_eq!(net.holders(id), want, "{id}");
            for n in 1..=5 {
                let targets: HashSet<u64> = net.node(n).placement(id).into_iter().collect();
                assert_eq!(targets, want, "node {n}'s view of {id}");
            }
        }
    };
    let mut reps = replicators(&net, eager());
    reap_all(&rt, &net, &[under(vec![z1.clone()])]);
    held_on(&[1, 4]);
    pass_all(&rt, &net, &mut reps);
    held_on(&[1, 4]);
    // Copied into a store confined to z0: one more copy there, the z1 copies count for
    // nothing in it.
    let written = rt
        .block_on(net.node(5).raise_copies(manifest, &z0))
        .unwrap();
    assert_eq!(written, ids.len() as u64);
    reap_all(
        &rt,
        &net,
        &[under(vec![z1.clone()]), under(vec![z0.clone()])],
    );
    pass_all(&rt, &net, &mut reps);
    held_on(&[1, 3, 4]);
    // The z1 copy deleted: only z0's copy is left, the surplus handed off.
    std::thread::sleep(lease * 2);
    reap_all(&rt, &net, &[under(vec![z0.clone()])]);
    pass_all(&rt, &net, &mut reps);
    held_on(&[3]);
}

#[test]
fn a_store_whose_zones_have_no_node_refuses_writes() {
    let rt = rt();
    let net = Net::new(3, quick());
    let mut ing = net
        .node(1)
        .ingest_under(Policy::in_zones(2, ["elsewhere".to_string()]));
    let res = rt.block_on(async {
        ing.write(Bytes::from(pseudo_random(64 * 1024, 3))).await?;
        ing.finish().await
    });
    assert!(
        matches!(res, Err(crate::DataError::InsufficientReplicas { .. })),
        "{res:?}"
    );
    for n in 1..=3 {
        let held = net.node(n).store().list_ids().unwrap();
        assert!(
            held.is_empty(),
            "node {n} got chunks outside the store's zones"
        );
    }
}
