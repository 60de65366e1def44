//! SWIM membership (foca): who is alive, suspect or down, and every node's [`Advert`].
//!
//! [`GossipCore`] is the protocol state without any I/O: packets in, packets out, timers
//! fired by the caller with the current time. `gossip_task` drives it over QUIC datagrams;
//! the tests drive several cores over an in-memory network.
//!
//! Identities are (node id, peer address, bump): the address is what foca tracks members by,
//! and the bump lets a node declared down (say after a SIGSTOP) rejoin at once under a new
//! identity. Adverts ride as custom broadcasts, taken only from the node they describe; each
//! node re-advertises periodically (fresh totals, and so late joiners learn everyone) and
//! when a member comes up.

use super::advert::Advert;
use bytes::Bytes;
use foca::{
    AccumulatingRuntime, BroadcastHandler, Codec, Config, Foca, Header, Identity, Invalidates,
    OwnedNotification, PostcardCodec, State, Timer,
};
use rand::rngs::SmallRng;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet};
use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroUsize};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::transport::MAX_DATAGRAM;

/// Cluster size foca's dissemination settings are sized for (more nodes still work, with
/// slightly slower spread).
const EXPECTED_NODES: NonZeroU32 = NonZeroU32::new(16).unwrap();
/// Largest gossip packet: what the transport accepts as one datagram.
const MAX_PACKET: NonZeroUsize = NonZeroUsize::new(MAX_DATAGRAM).unwrap();

/// A member's identity in foca.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Peer {
    /// Raft node id (0 for a seed whose id is not known yet).
    pub id: u64,
    /// QUIC peer address; foca's notion of "the same member".
    pub addr: SocketAddr,
    /// Bumped to rejoin after being declared down; higher wins.
    pub bump: u64,
}

impl Identity for Peer {
    type Addr = SocketAddr;

    fn renew(&self) -> Option<Self> {
        Some(Peer {
            bump: self.bump.wrapping_add(1),
            ..self.clone()
        })
    }

    fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn win_addr_conflict(&self, adversary: &Self) -> bool {
        self.bump > adversary.bump
    }
}

/// What gossip says of a member's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Liveness {
    /// Confirmed down (or left).
    Down,
    /// Some member could not reach it; still treated as alive until confirmed down.
    Suspect,
    /// Answering probes.
    Alive,
}

impl Liveness {
    /// Lower-case name, as the status endpoint shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            Liveness::Alive => "alive",
            Liveness::Suspect => "suspect",
            Liveness::Down => "down",
        }
    }
}

impl From<State> for Liveness {
    fn from(s: State) -> Self {
        match s {
            State::Alive => Liveness::Alive,
            State::Suspect => Liveness::Suspect,
            State::Down => Liveness::Down,
        }
    }
}

/// Gossip's knowledge of one node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeGossip {
    /// `None` until the node was heard from.
    pub liveness: Option<Liveness>,
    /// Its latest advert, kept after it goes down.
    pub advert: Option<Advert>,
}

/// Everything gossip knows, by node id (this node included).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GossipSnapshot {
    /// Whether gossip ran long enough that a member it never heard from counts as down.
    pub settled: bool,
    /// Per node.
    pub nodes: BTreeMap<u64, NodeGossip>,
}

/// Timings of the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GossipTimings {
    /// Period between two probes of a random member.
    pub probe: Duration,
    /// How long a suspect member has to refute before it is declared down.
    pub suspect: Duration,
}

impl GossipTimings {
    /// How often a node re-advertises and re-announces itself to members it does not see.
    pub fn advert_every(&self) -> Duration {
        self.probe * 2
    }

    /// After this long, a Raft member gossip never heard from counts as down.
    pub fn settle(&self) -> Duration {
        self.probe * 3 + self.suspect
    }

    fn foca_config(&self) -> Config {
        let mut c = Config::new_lan(EXPECTED_NODES);
        c.probe_period = self.probe;
        c.probe_rtt = self.probe / 2;
        c.suspect_to_down_after = self.suspect;
        c.max_packet_size = MAX_PACKET;
        if let Some(p) = c.periodic_announce_to_down_members.as_mut() {
            // Heal a split (both sides declared each other down) within seconds, not a minute.
            p.frequency = self.probe * 10;
        }
        c
    }
}

/// Why a peer's broadcast was refused.
#[derive(Debug, thiserror::Error)]
#[error("bad advert: {0}")]
pub struct AdvertError(String);

/// Dedup key of an advert broadcast: a newer `seq` of the same node replaces it.
struct AdvertKey {
    node: u64,
    seq: u64,
}

impl Invalidates for AdvertKey {
    fn invalidates(&self, other: &Self) -> bool {
        self.node == other.node && self.seq >= other.seq
    }
}

/// Latest advert per node and the transport address of the packet being handled, shared
/// between foca's broadcast handler and the core.
#[derive(Default)]
struct AdvertState {
    adverts: HashMap<u64, Advert>,
    /// Source address of the datagram in hand, as the transport saw it, and the node id its
    /// sender's certificate proves.
    from: Option<(SocketAddr, u64)>,
}

type AdvertTable = Arc<Mutex<AdvertState>>;

/// Keeps the newest advert of each node, accepting one only from the node it describes.
///
/// Foca does not authenticate a packet's sender, and its broadcasts are relayed, so a relayed
/// advert could be anyone's forgery (one with `seq: u64::MAX` would hide the node's real ones
/// for good). An advert about X is therefore taken only in a packet whose foca sender is X,
/// that came over a connection whose certificate is X's, from X's address as the transport
/// knows it (the peer endpoint is bound to the address it advertises); nothing is relayed,
/// each node hears every other directly as SWIM probes reach everyone in turn.
struct Adverts(AdvertTable);

impl BroadcastHandler<Peer> for Adverts {
    type Key = AdvertKey;
    type Error = AdvertError;

    fn receive_item(
        &mut self,
        data: &[u8],
        sender: Option<&Peer>,
    ) -> Result<Option<AdvertKey>, AdvertError> {
        let advert = Advert::decode(data).map_err(AdvertError)?;
        let mut state = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        // `None` is this node's own advert, added by `advertise`.
        if let Some(sender) = sender {
            if sender.id != advert.node || state.from != Some((sender.addr, advert.node)) {
                tracing::warn!(
                    about = advert.node,
                    sender = sender.id,
                    claimed = %sender.addr,
                    from = ?state.from,
                    "gossip: advert not from the node it describes ignored"
                );
                return Ok(None);
            }
        }
        if state
            .adverts
            .get(&advert.node)
            .is_some_and(|known| known.seq >= advert.seq)
        {
            return Ok(None);
        }
        let key = AdvertKey {
            node: advert.node,
            seq: advert.seq,
        };
        state.adverts.insert(advert.node, advert);
        // Only our own advert is passed on: others would refuse a relayed copy.
        Ok(sender.is_none().then_some(key))
    }
}

/// A foca timer due at a point in time; ties fire in submission order.
struct Due {
    at: Instant,
    order: u64,
    timer: Timer<Peer>,
}

impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.order) == (other.at, other.order)
    }
}
impl Eq for Due {}
impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Due {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.order).cmp(&(other.at, other.order))
    }
}

type Swim = Foca<Peer, PostcardCodec, SmallRng, Adverts>;

/// SWIM state of this node, driven by its caller (no I/O, no clock of its own).
pub struct GossipCore {
    foca: Swim,
    runtime: AccumulatingRuntime<Peer>,
    timers: BinaryHeap<Reverse<Due>>,
    submitted: u64,
    adverts: AdvertTable,
    own: Option<Advert>,
    started: Instant,
    settle: Duration,
}

impl std::fmt::Debug for GossipCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GossipCore")
            .field("identity", self.foca.identity())
            .field("members", &self.foca.num_members())
            .finish_non_exhaustive()
    }
}

impl GossipCore {
    /// A node that knows no one yet; `seed` feeds its random choices.
    pub fn new(me: Peer, timings: GossipTimings, seed: u64, now: Instant) -> Self {
        let adverts = AdvertTable::default();
        let foca = Foca::with_custom_broadcast(
            me,
            timings.foca_config(),
            SmallRng::seed_from_u64(seed),
            PostcardCodec,
            Adverts(adverts.clone()),
        );
        GossipCore {
            foca,
            runtime: AccumulatingRuntime::new(),
            timers: BinaryHeap::new(),
            submitted: 0,
            adverts,
            own: None,
            started: now,
            settle: timings.settle(),
        }
    }

    /// This node's current identity.
    pub fn identity(&self) -> &Peer {
        self.foca.identity()
    }

    /// Feeds one datagram that the transport received from address `from.0`, over a
    /// connection with node `from.1`'s certificate.
    ///
    /// A packet whose foca sender is not that node at that address is dropped: foca takes
    /// the sender's identity from the packet, so without this any certificate holder could
    /// announce, probe or refute suspicion in another node's name.
    pub fn handle_data(&mut self, data: &[u8], from: (SocketAddr, u64), now: Instant) {
        let header: Result<Header<Peer>, _> = PostcardCodec.decode_header(data);
        match header {
            Ok(Header { src, .. }) if (src.addr, src.id) == from => {}
            Ok(Header { src, .. }) => {
                tracing::warn!(
                    claimed = src.id,
                    claimed_addr = %src.addr,
                    node = from.1,
                    addr = %from.0,
                    "gossip: packet in another node's name dropped"
                );
                return;
            }
            Err(e) => {
                tracing::debug!(node = from.1, addr = %from.0, error = %e, "gossip: undecodable packet dropped");
                return;
            }
        }
        self.set_from(Some(from));
        let res = self.foca.handle_data(data, &mut self.runtime);
        self.set_from(None);
        self.settle_result(res, "handling a gossip packet", now);
    }

    fn set_from(&self, from: Option<(SocketAddr, u64)>) {
        self.adverts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .from = from;
    }

    /// Fires every timer due at `now`.
    pub fn fire_timers(&mut self, now: Instant) {
        while self.timers.peek().is_some_and(|Reverse(d)| d.at <= now) {
            let Some(Reverse(due)) = self.timers.pop() else {
                break;
            };
            let res = self.foca.handle_timer(due.timer, &mut self.runtime);
            self.settle_result(res, "handling a gossip timer", now);
        }
    }

    /// When the next timer is due.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse(d)| d.at)
    }

    /// Announces this node to every address in `members` (Raft members and seeds) that is
    /// not an active gossip member: how a node joins, and how splits heal.
    pub fn reach_out(&mut self, members: &[(u64, SocketAddr)], now: Instant) {
        let me = self.identity().addr;
        let active: HashSet<SocketAddr> = self.foca.iter_members().map(|m| m.id().addr).collect();
        for &(id, addr) in members {
            if addr == me || active.contains(&addr) {
                continue;
            }
            let res = self
                .foca
                .announce(Peer { id, addr, bump: 0 }, &mut self.runtime);
            self.settle_result(res, "announcing to a member", now);
        }
    }

    /// Publishes this node's advert (its `seq` is set here).
    pub fn advertise(&mut self, mut advert: Advert, now_ms: u64, now: Instant) {
        let previous = self.own.as_ref().map_or(0, |a| a.seq);
        advert.seq = Advert::next_seq(previous, now_ms);
        match advert.encode() {
            Ok(bytes) => {
                let res = self.foca.add_broadcast(&bytes).map(|_| ());
                self.settle_result(res, "publishing the advert", now);
            }
            Err(e) => tracing::warn!(error = %e, "cannot encode this node's advert"),
        }
        self.own = Some(advert);
    }

    /// Tells a few members this node is leaving, so the others need not wait for probes to
    /// fail; gossip stops answering afterwards.
    pub fn leave(&mut self, now: Instant) {
        let res = self.foca.leave_cluster(&mut self.runtime);
        self.settle_result(res, "leaving the cluster", now);
    }

    /// Datagrams to send, with their destination.
    pub fn take_outgoing(&mut self) -> Vec<(SocketAddr, Bytes)> {
        std::iter::from_fn(|| self.runtime.to_send())
            .map(|(peer, bytes)| (peer.addr, bytes))
            .collect()
    }

    /// What gossip knows now.
    pub fn snapshot(&self, now: Instant) -> GossipSnapshot {
        let mut nodes: BTreeMap<u64, NodeGossip> = BTreeMap::new();
        for m in self.foca.iter_membership_state() {
            let seen = nodes.entry(m.id().id).or_default();
            // One entry per address; a node that moved keeps its liveliest one.
            seen.liveness = seen.liveness.max(Some(m.state().into()));
        }
        nodes.entry(self.identity().id).or_default().liveness = Some(Liveness::Alive);
        let adverts = self.adverts.lock().unwrap_or_else(PoisonError::into_inner);
        for (id, advert) in adverts.adverts.iter() {
            nodes.entry(*id).or_default().advert = Some(advert.clone());
        }
        GossipSnapshot {
            settled: now.duration_since(self.started) >= self.settle,
            nodes,
        }
    }

    /// Logs a foca error, then moves what the runtime accumulated: timers into the queue,
    /// notifications into the log (and a re-advert when someone comes up).
    fn settle_result(&mut self, res: Result<(), foca::Error>, what: &str, now: Instant) {
        if let Err(e) = res {
            // Stale or duplicate packets are normal in SWIM; nothing to act on.
            tracing::debug!(error = %e, "{what}");
        }
        while let Some((after, timer)) = self.runtime.to_schedule() {
            self.submitted += 1;
            self.timers.push(Reverse(Due {
                at: now + after,
                order: self.submitted,
                timer,
            }));
        }
        let mut newcomer = false;
        while let Some(n) = self.runtime.to_notify() {
            match n {
                OwnedNotification::MemberUp(p) => {
                    tracing::info!(node = p.id, addr = %p.addr, "gossip: member up");
                    newcomer = true;
                }
                OwnedNotification::MemberDown(p) => {
                    tracing::warn!(node = p.id, addr = %p.addr, "gossip: member down");
                }
                OwnedNotification::Rename(old, new) => {
                    tracing::info!(
                        node = new.id,
                        from = old.bump,
                        to = new.bump,
                        "gossip: member rejoined"
                    );
                    // A restarted node has forgotten every advert.
                    newcomer = true;
                }
                OwnedNotification::Defunct => {
                    tracing::info!("gossip: this node is down to the cluster (it left)");
                }
                other => tracing::debug!(notification = ?other, "gossip"),
            }
        }
        if newcomer {
            // A newcomer (or a restarted node) learns of us from this advert; the others just
            // see a fresher one.
            if let Some(own) = self.own.clone() {
                let now_ms = own.seq.saturating_add(1);
                self.advertise(own, now_ms, now);
            }
        }
    }
}

#[cfg(test)]
#[path = "gossip_tests.rs"]
mod tests;
