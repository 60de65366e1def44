//! Runs [`GossipCore`] on the node: datagrams in from the peer handler and out over the QUIC
//! transport, foca's timers on tokio's clock, periodic adverts and outreach, and a snapshot
//! for placement and the status endpoint.

use super::addresses::Addresses;
use super::advert::Advert;
use super::gossip::{GossipCore, GossipSnapshot, GossipTimings, Peer};
use super::handler::GossipFrom;
use super::local_stats::{refresh_totals, LocalTotals};
use crate::space::Volume;
use crate::transport::Transport;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use tessera_replication::ChunkStore;
use tokio::sync::{mpsc, oneshot, watch};

/// Longest a leaving node waits for its farewell datagrams to be handed to the transport.
const LEAVE_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// Datagrams waiting for the gossip task; past this the handler drops them (SWIM copes).
pub const INBOX: usize = 1024;

/// Wall-clock milliseconds (advert sequence numbers and identity bumps).
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Everything the gossip task needs.
pub struct GossipTask {
    /// This node's advert; totals and sequence are refreshed at each publication.
    pub advert: Advert,
    /// Protocol timings.
    pub timings: GossipTimings,
    /// Where to announce before any Raft member is known (`--join`).
    pub seed: Option<SocketAddr>,
    /// Datagrams from peers, with the address the transport received each from.
    pub inbox: mpsc::Receiver<(GossipFrom, Vec<u8>)>,
    /// Sends datagrams.
    pub transport: Transport,
    /// Raft members' peer addresses, to reach out to those gossip does not see.
    pub addresses: Addresses,
}

/// A running gossip task: what it knows, and a way to leave.
pub struct Gossip {
    /// What gossip knows, kept current.
    pub snapshots: watch::Receiver<GossipSnapshot>,
    leave: mpsc::Sender<oneshot::Sender<()>>,
}

impl Gossip {
    /// Announces that this node leaves (it is shutting down) and stops gossip.
    pub async fn leave(&self) {
        let (done, left) = oneshot::channel();
        if self.leave.send(done).await.is_ok() {
            let _ = tokio::time::timeout(LEAVE_WAIT * 2, left).await;
        }
    }
}

impl GossipTask {
    /// Starts gossip, and the refresher of the totals it advertises (free space of the
    /// chunk and metadata volumes against their reserves, chunks in `store`).
    pub fn spawn(self, volumes: [Volume; 2], store: Arc<ChunkStore>) -> Gossip {
        let (totals_tx, totals) = watch::channel(LocalTotals::default());
        tokio::spawn(refresh_totals(totals_tx, volumes, store));
        let (snapshot, snapshots) = watch::channel(GossipSnapshot::default());
        let (leave, leaving) = mpsc::channel(1);
        tokio::spawn(self.run(totals, snapshot, leaving));
        Gossip { snapshots, leave }
    }

    /// Runs until the node leaves or the peer handler (the inbox's sender) is gone.
    async fn run(
        mut self,
        totals: watch::Receiver<LocalTotals>,
        snapshot: watch::Sender<GossipSnapshot>,
        mut leaving: mpsc::Receiver<oneshot::Sender<()>>,
    ) {
        let me = Peer {
            id: self.advert.node,
            addr: self.advert.peer,
            // A restarted node must win over its previous identity.
            bump: now_ms(),
        };
        let mut core = GossipCore::new(me.clone(), self.timings, me.id ^ me.bump, Instant::now());
        let mut tick = tokio::time::interval(self.timings.advert_every());
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tracing::info!(node = me.id, addr = %me.addr, "gossip running");
        loop {
            let deadline = core.next_deadline().map(tokio::time::Instant::from_std);
            let due = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                got = self.inbox.recv() => match got {
                    Some((from, bytes)) => core.handle_data(&bytes, from, Instant::now()),
                    None => return,
                },
                () = due => core.fire_timers(Instant::now()),
                _ = tick.tick() => self.publish(&mut core, *totals.borrow()),
                Some(done) = leaving.recv() => {
                    core.leave(Instant::now());
                    let sends = futures::future::join_all(self.send(&mut core));
                    let _ = tokio::time::timeout(LEAVE_WAIT, sends).await;
                    let _ = done.send(());
                    tracing::info!("gossip: left the cluster");
                    return;
                }
            }
            self.send(&mut core);
            let snap = core.snapshot(Instant::now());
            snapshot.send_if_modified(|current| {
                let changed = *current != snap;
                if changed {
                    *current = snap;
                }
                changed
            });
        }
    }

    /// Sends what `core` has to send, each datagram on its own task: sends to a dead peer
    /// wait for a connect timeout, the others must not.
    fn send(&self, core: &mut GossipCore) -> Vec<tokio::task::JoinHandle<()>> {
        core.take_outgoing()
            .into_iter()
            .map(|(to, bytes)| {
                let transport = self.transport.clone();
                tokio::spawn(async move {
                    if let Err(e) = transport.send_datagram(to, bytes.to_vec()).await {
                        tracing::debug!(%to, error = %e, "gossip datagram not sent");
                    }
                })
            })
            .collect()
    }

    /// Advertises fresh totals and announces this node to members gossip does not see.
    fn publish(&self, core: &mut GossipCore, totals: LocalTotals) {
        let now = Instant::now();
        let mut members = self.addresses.all();
        members.extend(self.seed.map(|s| (0, s)));
        core.reach_out(&members, now);
        let advert = Advert {
            free_bytes: totals.free_bytes,
            full: totals.full,
            metadata_full: totals.metadata_full,
            chunks: totals.chunks,
            chunk_bytes: totals.chunk_bytes,
            ..self.advert.clone()
        };
        core.advertise(advert, now_ms(), now);
    }
}
