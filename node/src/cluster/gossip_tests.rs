//! Several [`GossipCore`]s over an in-memory network with simulated time: convergence,
//! failure detection, rejoin, and packet sizes.

use super::*;
use crate::cluster::advert::{test_advert, MAX_LABEL};

const STEP: Duration = Duration::from_millis(10);

fn timings() -> GossipTimings {
    GossipTimings {
        probe: Duration::from_millis(200),
        suspect: Duration::from_secs(1),
    }
}

/// Nodes 1..=n on one lossless, zero-latency network; paused nodes neither run nor receive.
struct Net {
    cores: Vec<GossipCore>,
    adverts: Vec<Advert>,
    paused: Vec<bool>,
    /// Who each node announces itself to every advert period.
    seeds: Vec<Vec<(u64, SocketAddr)>>,
    now: Instant,
    elapsed: Duration,
    largest_packet: usize,
}

fn addr(id: u64) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 7000 + id as u16))
}

impl Net {
    /// Every node but the first announces to node 1 only.
    fn new(n: u64, label_len: usize) -> Net {
        let now = Instant::now();
        let cores = (1..=n)
            .map(|id| {
                let me = Peer {
                    id,
                    addr: addr(id),
                    bump: 1,
                };
                GossipCore::new(me, timings(), id, now)
            })
            .collect();
        let adverts = (1..=n)
            .map(|id| Advert {
                zone: format!("zone-{id}"),
                ..test_advert(id, label_len)
            })
            .collect();
        let seeds = (1..=n)
            .map(|id| if id == 1 { vec![] } else { vec![(0, addr(1))] })
            .collect();
        Net {
            cores,
            adverts,
            paused: vec![false; n as usize],
            seeds,
            now,
            elapsed: Duration::ZERO,
            largest_packet: 0,
        }
    }

    fn index(&self, to: SocketAddr) -> Option<usize> {
        self.cores.iter().position(|c| c.identity().addr == to)
    }

    fn run(&mut self, span: Duration) {
        let end = self.elapsed + span;
        let period = timings().advert_every();
        while self.elapsed < end {
            let periodic = self.elapsed.as_millis().is_multiple_of(period.as_millis());
            self.now += STEP;
            self.elapsed += STEP;
            let now_ms = self.elapsed.as_millis() as u64;
            for i in 0..self.cores.len() {
                if self.paused[i] {
                    continue;
                }
                if periodic {
                    let seeds = self.seeds[i].clone();
                    self.cores[i].reach_out(&seeds, self.now);
                    self.cores[i].advertise(self.adverts[i].clone(), now_ms, self.now);
                }
                self.cores[i].fire_timers(self.now);
            }
            self.deliver();
        }
    }

    /// Delivers packets (and the replies they cause) until the network is quiet.
    fn deliver(&mut self) {
        for _ in 0..100 {
            let mut quiet = true;
            for i in 0..self.cores.len() {
                if self.paused[i] {
                    continue;
                }
                let me = self.cores[i].identity();
                let from = (me.addr, me.id);
                for (to, bytes) in self.cores[i].take_outgoing() {
                    quiet = false;
                    self.largest_packet = self.largest_packet.max(bytes.len());
                    if let Some(j) = self.index(to).filter(|&j| !self.paused[j]) {
                        self.cores[j].handle_data(&bytes, from, self.now);
                    }
                }
            }
            if quiet {
                return;
            }
        }
        panic!("the network never went quiet");
    }

    fn view(&self, node: u64) -> GossipSnapshot {
        self.cores[node as usize - 1].snapshot(self.now)
    }

    fn liveness(&self, observer: u64, of: u64) -> Option<Liveness> {
        self.view(observer).nodes.get(&of).and_then(|g| g.liveness)
    }

    /// Whether every running node sees every node in `alive` as alive with its advert.
    fn converged(&self, alive: &[u64]) -> bool {
        (1..=self.cores.len() as u64)
            .filter(|&o| !self.paused[o as usize - 1])
            .all(|o| {
                let v = self.view(o);
                alive.iter().all(|id| {
                    v.nodes.get(id).is_some_and(|g| {
                        g.liveness == Some(Liveness::Alive)
                            && g.advert
                                .as_ref()
                                .is_some_and(|a| a.zone == format!("zone-{id}"))
                    })
                })
            })
    }

    /// Runs until `done` holds, for at most `limit`; returns the time it took.
    fn run_until(&mut self, limit: Duration, done: impl Fn(&Net) -> bool) -> Duration {
        let start = self.elapsed;
        while !done(self) {
            assert!(self.elapsed - start < limit, "not within {limit:?}");
            self.run(STEP);
        }
        self.elapsed - start
    }
}

#[test]
fn nodes_that_announce_to_one_seed_converge() {
    let mut net = Net::new(5, 8);
    let all: Vec<u64> = (1..=5).collect();
    net.run_until(Duration::from_secs(3), |n| n.converged(&all));
    assert!(!net.view(1).settled);
    net.run(timings().settle());
    let v = net.view(3);
    assert!(v.settled);
    assert_eq!(v.nodes.len(), 5);
    let a = v.nodes[&4].advert.as_ref().unwrap();
    assert_eq!((a.node, a.peer), (4, test_advert(4, 8).peer));
}

#[test]
fn a_paused_node_is_declared_down_and_rejoins_when_resumed() {
    let mut net = Net::new(3, 8);
    // As the node does with the Raft members: everyone keeps reaching out to everyone.
    let everyone: Vec<(u64, SocketAddr)> = (1..=3).map(|id| (id, addr(id))).collect();
    net.seeds = vec![everyone; 3];
    net.run_until(Duration::from_secs(3), |n| n.converged(&[1, 2, 3]));
    net.paused[2] = true;
    let t = timings();
    // Missed probes make it suspect, then it fails to refute in time.
    let bound = t.probe * 4 + t.suspect;
    net.run_until(bound, |n| n.liveness(1, 3) == Some(Liveness::Down));
    net.run_until(t.probe * 4, |n| n.liveness(2, 3) == Some(Liveness::Down));
    // Its last advert survives for placement weights and status.
    assert_eq!(net.view(1).nodes[&3].advert.as_ref().unwrap().node, 3);
    net.run(Duration::from_secs(2));
    net.paused[2] = false;
    net.run_until(Duration::from_secs(5), |n| n.converged(&[1, 2, 3]));
    assert!(
        net.cores[2].identity().bump > 1,
        "rejoined under a new identity"
    );
}

#[test]
fn a_silent_member_is_suspected_before_it_is_down() {
    let mut net = Net::new(3, 8);
    net.run_until(Duration::from_secs(3), |n| n.converged(&[1, 2, 3]));
    net.paused[1] = true;
    net.run_until(timings().probe * 6, |n| {
        n.liveness(1, 2) == Some(Liveness::Suspect) || n.liveness(3, 2) == Some(Liveness::Suspect)
    });
}

#[test]
fn packets_stay_under_the_datagram_limit_with_many_large_adverts() {
    // A packet carries one advert (its sender's), so membership updates must fill it.
    let n = 40;
    let mut net = Net::new(n, MAX_LABEL);
    let all: Vec<u64> = (1..=n).collect();
    net.run_until(Duration::from_secs(30), |net| net.converged(&all));
    assert!(net.largest_packet <= MAX_DATAGRAM, "{}", net.largest_packet);
    // Full packets were needed: the limit was actually exercised.
    assert!(
        net.largest_packet > MAX_DATAGRAM / 2,
        "{}",
        net.largest_packet
    );
}

#[test]
fn stale_adverts_are_not_passed_on() {
    let table = AdvertTable::default();
    let mut handler = Adverts(table.clone());
    let newer = Advert {
        seq: 10,
        ..test_advert(7, 4)
    };
    let older = Advert {
        seq: 9,
        ..newer.clone()
    };
    assert!(handler
        .receive_item(&newer.encode().unwrap(), None)
        .unwrap()
        .is_some());
    assert!(handler
        .receive_item(&older.encode().unwrap(), None)
        .unwrap()
        .is_none());
    assert!(handler
        .receive_item(&newer.encode().unwrap(), None)
        .unwrap()
        .is_none());
    assert!(handler.receive_item(b"junk", None).is_err());
    assert_eq!(table.lock().unwrap().adverts[&7].seq, 10);
}

#[test]
fn a_node_that_leaves_is_down_at_once() {
    let mut net = Net::new(3, 8);
    net.run_until(Duration::from_secs(3), |n| n.converged(&[1, 2, 3]));
    net.cores[1].leave(net.now);
    net.deliver();
    net.paused[1] = true;
    // Well before probes could notice: the news spreads with the next gossip rounds.
    net.run_until(timings().probe * 2, |n| {
        n.liveness(1, 2) == Some(Liveness::Down) && n.liveness(3, 2) == Some(Liveness::Down)
    });
}

#[test]
fn adverts_are_taken_only_from_the_node_they_describe() {
    let table = AdvertTable::default();
    let mut handler = Adverts(table.clone());
    let peer = |id| Peer {
        id,
        addr: addr(id),
        bump: 1,
    };
    let forged = Advert {
        seq: u64::MAX,
        zone: "forged".into(),
        ..test_advert(7, 4)
    };
    let real = Advert {
        seq: 10,
        ..test_advert(7, 4)
    };
    let item = |a: &Advert| a.encode().unwrap();
    let from = |a, cert| table.lock().unwrap().from = Some((addr(a), cert));
    // Node 9 about node 7, whether it says so or claims to be 7.
    from(9, 9);
    assert!(handler
        .receive_item(&item(&forged), Some(&peer(9)))
        .unwrap()
        .is_none());
    assert!(handler
        .receive_item(&item(&forged), Some(&peer(7)))
        .unwrap()
        .is_none());
    // Node 9's certificate, even from node 7's address and claiming to be 7.
    from(7, 9);
    assert!(handler
        .receive_item(&item(&forged), Some(&peer(7)))
        .unwrap()
        .is_none());
    assert!(table.lock().unwrap().adverts.is_empty());
    // Node 7's own still applies, and is not relayed.
    from(7, 7);
    assert!(handler
        .receive_item(&item(&real), Some(&peer(7)))
        .unwrap()
        .is_none());
    assert_eq!(table.lock().unwrap().adverts[&7], real);
}

#[test]
fn a_forged_advert_about_another_node_does_not_hide_its_real_ones() {
    let mut net = Net::new(4, 8);
    let all: Vec<u64> = (1..=4).collect();
    net.run_until(Duration::from_secs(3), |n| n.converged(&all));
    // Node 4 spreads an advert about node 2 that would outrank all of 2's own.
    let forged = Advert {
        seq: u64::MAX,
        zone: "forged".into(),
        ..test_advert(2, 8)
    };
    net.cores[3]
        .foca
        .add_broadcast(&forged.encode().unwrap())
        .unwrap();
    net.run(Duration::from_secs(3));
    for observer in 1..=3 {
        let a = net.view(observer).nodes[&2].advert.clone().unwrap();
        assert_eq!(a.zone, "zone-2", "node {observer} took the forgery");
        assert!(a.seq < u64::MAX);
    }
    // Node 2's later adverts still apply.
    net.adverts[1].zone = "zone-2b".into();
    net.run_until(Duration::from_secs(5), |n| {
        (1..=3).all(|o| n.view(o).nodes[&2].advert.as_ref().unwrap().zone == "zone-2b")
    });
}

#[test]
fn a_packet_in_another_nodes_name_is_dropped() {
    let mut net = Net::new(2, 8);
    let seeds = net.seeds[1].clone();
    net.cores[1].reach_out(&seeds, net.now);
    let announce = net.cores[1].take_outgoing();
    assert!(!announce.is_empty());
    // Node 2's announce arriving over node 4's connection (another address) is dropped...
    for (_, bytes) in &announce {
        net.cores[0].handle_data(bytes, (addr(4), 4), net.now);
    }
    assert!(
        !net.view(1).nodes.contains_key(&2),
        "took a packet in node 2's name"
    );
    // ...and taken from node 2 itself.
    for (_, bytes) in &announce {
        net.cores[0].handle_data(bytes, (addr(2), 2), net.now);
    }
    assert!(net.view(1).nodes.contains_key(&2));
}
