//! The flags of `tessera serve`, each also an environment variable. They win over the
//! config file; worker settings stay text here and go through the workers' own parser.

use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;

use super::file::{AuthMode, RuleFormat, Voters};
use crate::logging::LogFormat;

/// Every option of `tessera serve`. Durations are seconds or a number with a unit (`250ms`,
/// `30s`, `10m`, `1d`), as in the config file.
#[derive(Debug, Clone, Default, Args)]
pub struct ServeOptions {
    /// Where the node keeps its metadata and chunks [default: ./data].
    #[arg(long, env = "TESSERA_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Where the node keeps its metadata (Raft log and state machine), for instance on a
    /// volume of its own [default: DATA_DIR/meta].
    #[arg(long, env = "TESSERA_METADATA_DIR")]
    pub metadata_dir: Option<PathBuf>,
    /// Bytes the chunk volume keeps free: the node takes no new chunk below it and
    /// placement sends new copies to other nodes [default: 268435456].
    #[arg(long, env = "TESSERA_RESERVE_BYTES")]
    pub reserve_bytes: Option<u64>,
    /// Bytes the metadata volume keeps free: below it the node refuses creates, updates and
    /// uploads (413) and still accepts deletes [default: 134217728].
    #[arg(long, env = "TESSERA_METADATA_RESERVE_BYTES")]
    pub metadata_reserve_bytes: Option<u64>,
    /// TEST ONLY: report this many free bytes on the chunk volume instead of measuring it.
    #[arg(long, env = "TESSERA_UNSAFE_FREE_BYTES", hide = true)]
    pub unsafe_free_bytes: Option<u64>,
    /// TEST ONLY: report this many free bytes on the metadata volume instead of measuring it.
    #[arg(long, env = "TESSERA_UNSAFE_METADATA_FREE_BYTES", hide = true)]
    pub unsafe_metadata_free_bytes: Option<u64>,
    /// Address of the Glance API [default: 127.0.0.1:9292].
    #[arg(long, env = "TESSERA_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// This node's Raft id [default: 1].
    #[arg(long, env = "TESSERA_NODE_ID")]
    pub node_id: Option<u64>,
    /// How callers are identified: noauth (development: the token names the caller) or
    /// keystone (tokens validated with Keystone; credentials in the file's [auth] section)
    /// [default: noauth].
    #[arg(long, env = "TESSERA_AUTH", value_enum)]
    pub auth: Option<AuthMode>,
    /// Allow noauth on an address other than loopback (anyone who reaches it is admin).
    #[arg(long, env = "TESSERA_INSECURE_NOAUTH")]
    pub insecure_noauth: bool,
    /// Identity for requests without a noauth token, as user:project:roles
    /// [default: tessera-user:tessera-project:admin,member,reader].
    #[arg(long, env = "TESSERA_DEFAULT_IDENTITY")]
    pub default_identity: Option<String>,
    /// oslo.policy YAML file (`"rule_name": "rule string"`) whose rules replace Glance's
    /// default access rules by name; reloaded when it changes.
    #[arg(long, env = "TESSERA_POLICY_FILE")]
    pub policy_file: Option<PathBuf>,
    /// Glance's property protection file: INI sections named by property-name regular
    /// expressions, each with `create`, `read`, `update` and `delete`.
    #[arg(long, env = "TESSERA_PROPERTY_PROTECTION_FILE")]
    pub property_protection_file: Option<PathBuf>,
    /// How the property protection file names who may act [default: roles].
    #[arg(long, env = "TESSERA_PROPERTY_PROTECTION_RULE_FORMAT")]
    pub property_protection_rule_format: Option<RuleFormat>,
    /// Largest JSON request body in bytes [default: 114688].
    #[arg(long, env = "TESSERA_MAX_JSON_BODY")]
    pub max_json_body: Option<usize>,
    /// PEM certificate chain of the public API: with --tls-key the API speaks HTTPS.
    /// Reloaded on SIGHUP.
    #[arg(long, env = "TESSERA_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "TESSERA_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// Base URL clients reach the API at (Glance's public_endpoint), for the version
    /// document's links; otherwise X-Forwarded-Proto/-Host or the request's own.
    #[arg(long, env = "TESSERA_PUBLIC_ENDPOINT")]
    pub public_endpoint: Option<String>,
    /// Largest image in bytes [default: 1099511627776].
    #[arg(long, env = "TESSERA_IMAGE_SIZE_CAP")]
    pub image_size_cap: Option<u64>,
    /// Extra properties an image may have (Glance's image_property_quota); negative:
    /// unlimited [default: 128].
    #[arg(
        long,
        env = "TESSERA_IMAGE_PROPERTY_QUOTA",
        allow_negative_numbers = true
    )]
    pub image_property_quota: Option<i64>,
    /// Tags an image may have (image_tag_quota); negative: unlimited [default: 128].
    #[arg(long, env = "TESSERA_IMAGE_TAG_QUOTA", allow_negative_numbers = true)]
    pub image_tag_quota: Option<i64>,
    /// Projects an image may be shared with (image_member_quota); negative: unlimited
    /// [default: 128].
    #[arg(
        long,
        env = "TESSERA_IMAGE_MEMBER_QUOTA",
        allow_negative_numbers = true
    )]
    pub image_member_quota: Option<i64>,
    /// Time between reaper passes over unreferenced chunks, at least 1s; like every
    /// duration, seconds or a number with a unit: 250ms, 30s, 10m, 1d [default: 5m].
    #[arg(long, env = "TESSERA_REAPER_INTERVAL")]
    pub reaper_interval: Option<String>,
    /// Age before an unreferenced chunk may be deleted; longer than any upload
    /// [default: 1d].
    #[arg(long, env = "TESSERA_REAPER_GRACE")]
    pub reaper_grace: Option<String>,
    /// Time between the replicator's anti-entropy passes [default: 60s].
    #[arg(long, env = "TESSERA_REPLICATOR_INTERVAL")]
    pub replicator_interval: Option<String>,
    /// Repair-queue entries or handoff chunks the replicator handles per step, 1 to 10000
    /// [default: 32].
    #[arg(long, env = "TESSERA_REPLICATOR_BATCH")]
    pub replicator_batch: Option<String>,
    /// Age before a chunk this node should not hold is handed off to its targets and
    /// deleted here; longer than any upload [default: 10m].
    #[arg(long, env = "TESSERA_HANDOFF_GRACE")]
    pub handoff_grace: Option<String>,
    /// Log format [default: text].
    #[arg(long, env = "TESSERA_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// This node's name: its certificate is CERTS/NAME.pem [default: node1].
    #[arg(long, env = "TESSERA_NODE_NAME")]
    pub node_name: Option<String>,
    /// UDP address of the node-to-node QUIC endpoint, as peers reach it; with --certs it
    /// makes the node part of a cluster.
    #[arg(long, env = "TESSERA_PEER_LISTEN")]
    pub peer_listen: Option<SocketAddr>,
    /// Directory with ca.pem and this node's certificate and key (`tessera cluster init|cert`).
    #[arg(long, env = "TESSERA_CERTS")]
    pub certs: Option<PathBuf>,
    /// Start even though the --certs directory holds the cluster CA key (ca.key), which
    /// should live elsewhere: any holder of that key can mint node identities.
    #[arg(long, env = "TESSERA_ALLOW_CA_KEY")]
    pub allow_ca_key: bool,
    /// Peer address of any member of the cluster to join; without it a fresh clustered node
    /// starts a new cluster.
    #[arg(long, env = "TESSERA_JOIN")]
    pub join: Option<SocketAddr>,
    /// Replication factor R of image chunks [default: 3].
    #[arg(long, env = "TESSERA_REPLICAS")]
    pub replicas: Option<usize>,
    /// Raft voters the cluster keeps; further nodes are learners [default: 3].
    #[arg(long, env = "TESSERA_MAX_VOTERS", value_enum)]
    pub max_voters: Option<Voters>,
    /// Log entries between Raft snapshots; nodes that fall further behind catch up from a
    /// snapshot [default: 5000].
    #[arg(long, env = "TESSERA_SNAPSHOT_LOGS")]
    pub snapshot_logs: Option<u64>,
    /// Failure domain (rack, room, site) this node advertises; replicas of a chunk go to
    /// distinct zones first [default: default].
    #[arg(long, env = "TESSERA_ZONE")]
    pub zone: Option<String>,
    /// Placement weight this node advertises, relative to the others' (for instance its disk
    /// size in GiB); 0 gets data only when no other node can take it [default: 1].
    #[arg(long, env = "TESSERA_CAPACITY")]
    pub capacity: Option<u64>,
    /// Milliseconds between two gossip probes of a random member [default: 1000].
    #[arg(long, env = "TESSERA_GOSSIP_PROBE_MS")]
    pub gossip_probe_ms: Option<u64>,
    /// Milliseconds a member suspected by gossip has to answer before it is declared down
    /// [default: 4000].
    #[arg(long, env = "TESSERA_GOSSIP_SUSPECT_MS")]
    pub gossip_suspect_ms: Option<u64>,
    /// DELIBERATELY UNSAFE, for testing the chaos harness only: acknowledge chunk writes and
    /// make them this many milliseconds later, so a crash loses acknowledged uploads.
    #[arg(long, env = "TESSERA_UNSAFE_WRITE_BEHIND_MS", hide = true)]
    pub unsafe_write_behind_ms: Option<u64>,
    /// Bytes per second the auditor re-hashes at most, a whole number optionally with KiB,
    /// MiB, GiB or TiB [default: 32MiB].
    #[arg(long, env = "TESSERA_AUDITOR_RATE")]
    pub auditor_rate: Option<String>,
    /// Time from one full audit pass to the next (jittered by 10%), at least 1s
    /// [default: 1d].
    #[arg(long, env = "TESSERA_AUDITOR_PERIOD")]
    pub auditor_period: Option<String>,
    /// Glance's delayed delete: deleted images wait in pending_delete, data kept, for
    /// --scrub-time [default: false].
    #[arg(long, env = "TESSERA_DELAYED_DELETE")]
    pub delayed_delete: Option<bool>,
    /// Keep an image cache on this node and serve the cache API (v2.14) [default: false].
    #[arg(long, env = "TESSERA_IMAGE_CACHE")]
    pub image_cache: Option<bool>,
    /// Glance's image_cache_max_size: bytes the cache may hold before the least recently
    /// used images go [default: 10737418240].
    #[arg(long, env = "TESSERA_IMAGE_CACHE_MAX_SIZE")]
    pub image_cache_max_size: Option<u64>,
    /// Time a pending_delete image is kept before the reaper scrubs it [default: 0s].
    #[arg(long, env = "TESSERA_SCRUB_TIME")]
    pub scrub_time: Option<String>,
    /// Time after which an image still saving (its upload died with a node) goes back to
    /// queued; longer than any upload [default: 1d].
    #[arg(long, env = "TESSERA_UPLOAD_TIMEOUT")]
    pub upload_timeout: Option<String>,
    /// How long a node's claim on a task holds without renewal; another node takes a task
    /// over after it, at least 1s [default: 30s].
    #[arg(long, env = "TESSERA_TASK_LEASE")]
    pub task_lease: Option<String>,
    /// Glance's task_time_to_live: how long a finished task is kept [default: 2d].
    #[arg(long, env = "TESSERA_TASK_TIME_TO_LIVE")]
    pub task_time_to_live: Option<String>,
}
