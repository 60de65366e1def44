//! Node configuration: embedded defaults, overridden by a TOML file, overridden by
//! environment variables and flags (clap reads both).

use clap::Args;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tessera_api::{ApiConfig, AuthConfig, Identity};
use tessera_replication::{AuditorConfig, ReaperConfig, ReplicatorConfig};

use crate::cluster::{GossipTimings, MAX_LABEL};

/// Zone of a node that names none.
pub const DEFAULT_ZONE: &str = "default";
/// Placement weight of a node that names none: every node an equal share.
pub const DEFAULT_CAPACITY: u64 = 1;

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {source}")]
    Parse {
        path: PathBuf,
        source: toml::de::Error,
    },
    #[error("invalid default identity '{0}': expected user:project:role[,role...]")]
    Identity(String),
    #[error("a clustered node needs both --peer-listen and --certs")]
    PartialCluster,
    #[error(
        "--peer-listen {0} must name the address peers reach this node at, not an unspecified one"
    )]
    UnspecifiedPeerAddr(SocketAddr),
    #[error("--{what} '{value}' must be 1 to {MAX_LABEL} bytes")]
    Label { what: &'static str, value: String },
    #[error("gossip timings: --gossip-probe-ms must be at least 10 and --gossip-suspect-ms at least as long")]
    GossipTimings,
}

/// Every option of `tessera serve`; each is a flag, an environment variable and a key of
/// the TOML file (same name with underscores).
#[derive(Debug, Clone, Default, Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeOptions {
    /// Where the node keeps its metadata and chunks [default: ./data].
    #[arg(long, env = "TESSERA_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address of the Glance API [default: 127.0.0.1:9292].
    #[arg(long, env = "TESSERA_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// This node's Raft id [default: 1].
    #[arg(long, env = "TESSERA_NODE_ID")]
    pub node_id: Option<u64>,
    /// Identity for requests without a noauth token, as user:project:roles
    /// [default: tessera-user:tessera-project:admin,member,reader].
    #[arg(long, env = "TESSERA_DEFAULT_IDENTITY")]
    pub default_identity: Option<String>,
    /// Largest JSON request body in bytes [default: 114688].
    #[arg(long, env = "TESSERA_MAX_JSON_BODY")]
    pub max_json_body: Option<usize>,
    /// Largest image in bytes [default: 1099511627776].
    #[arg(long, env = "TESSERA_IMAGE_SIZE_CAP")]
    pub image_size_cap: Option<u64>,
    /// Seconds between reaper passes over unreferenced chunks [default: 300].
    #[arg(long, env = "TESSERA_REAPER_INTERVAL")]
    pub reaper_interval: Option<u64>,
    /// Age in seconds before an unreferenced chunk may be deleted; longer than any upload
    /// [default: 86400].
    #[arg(long, env = "TESSERA_REAPER_GRACE")]
    pub reaper_grace: Option<u64>,
    /// Seconds between the replicator's anti-entropy passes [default: 60].
    #[arg(long, env = "TESSERA_REPLICATOR_INTERVAL")]
    pub replicator_interval: Option<u64>,
    /// Repair-queue entries or handoff chunks the replicator handles per step [default: 32].
    #[arg(long, env = "TESSERA_REPLICATOR_BATCH")]
    pub replicator_batch: Option<usize>,
    /// Age in seconds before a chunk this node should not hold is handed off to its targets
    /// and deleted here; longer than any upload [default: 600].
    #[arg(long, env = "TESSERA_HANDOFF_GRACE")]
    pub handoff_grace: Option<u64>,
    /// Log format: text or json [default: text].
    #[arg(long, env = "TESSERA_LOG_FORMAT")]
    pub log_format: Option<String>,
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
    /// Peer address of any member of the cluster to join; without it a fresh clustered node
    /// starts a new cluster.
    #[arg(long, env = "TESSERA_JOIN")]
    pub join: Option<SocketAddr>,
    /// Replication factor R of image chunks [default: 3].
    #[arg(long, env = "TESSERA_REPLICAS")]
    pub replicas: Option<usize>,
    /// Raft voters the cluster keeps (3 or 5); further nodes are learners [default: 3].
    #[arg(long, env = "TESSERA_MAX_VOTERS")]
    pub max_voters: Option<usize>,
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
    /// Bytes per second the auditor re-hashes at most [default: 33554432].
    #[arg(long, env = "TESSERA_AUDITOR_RATE")]
    pub auditor_rate: Option<u64>,
    /// Seconds from one full audit pass to the next (jittered by 10%) [default: 86400].
    #[arg(long, env = "TESSERA_AUDITOR_PERIOD")]
    pub auditor_period: Option<u64>,
    /// Glance's delayed delete: deleted images wait in pending_delete, data kept, for
    /// --scrub-time seconds [default: false].
    #[arg(long, env = "TESSERA_DELAYED_DELETE")]
    pub delayed_delete: Option<bool>,
    /// Seconds a pending_delete image is kept before the reaper scrubs it [default: 0].
    #[arg(long, env = "TESSERA_SCRUB_TIME")]
    pub scrub_time: Option<u64>,
    /// Seconds after which an image still saving (its upload died with a node) goes back to
    /// queued; longer than any upload [default: 86400].
    #[arg(long, env = "TESSERA_UPLOAD_TIMEOUT")]
    pub upload_timeout: Option<u64>,
}

impl ServeOptions {
    /// Fills every unset option from `file`.
    fn or(self, file: ServeOptions) -> ServeOptions {
        ServeOptions {
            data_dir: self.data_dir.or(file.data_dir),
            listen: self.listen.or(file.listen),
            node_id: self.node_id.or(file.node_id),
            default_identity: self.default_identity.or(file.default_identity),
            max_json_body: self.max_json_body.or(file.max_json_body),
            image_size_cap: self.image_size_cap.or(file.image_size_cap),
            reaper_interval: self.reaper_interval.or(file.reaper_interval),
            reaper_grace: self.reaper_grace.or(file.reaper_grace),
            replicator_interval: self.replicator_interval.or(file.replicator_interval),
            replicator_batch: self.replicator_batch.or(file.replicator_batch),
            handoff_grace: self.handoff_grace.or(file.handoff_grace),
            log_format: self.log_format.or(file.log_format),
            node_name: self.node_name.or(file.node_name),
            peer_listen: self.peer_listen.or(file.peer_listen),
            certs: self.certs.or(file.certs),
            join: self.join.or(file.join),
            replicas: self.replicas.or(file.replicas),
            max_voters: self.max_voters.or(file.max_voters),
            snapshot_logs: self.snapshot_logs.or(file.snapshot_logs),
            zone: self.zone.or(file.zone),
            capacity: self.capacity.or(file.capacity),
            gossip_probe_ms: self.gossip_probe_ms.or(file.gossip_probe_ms),
            gossip_suspect_ms: self.gossip_suspect_ms.or(file.gossip_suspect_ms),
            unsafe_write_behind_ms: self.unsafe_write_behind_ms.or(file.unsafe_write_behind_ms),
            auditor_rate: self.auditor_rate.or(file.auditor_rate),
            auditor_period: self.auditor_period.or(file.auditor_period),
            delayed_delete: self.delayed_delete.or(file.delayed_delete),
            scrub_time: self.scrub_time.or(file.scrub_time),
            upload_timeout: self.upload_timeout.or(file.upload_timeout),
        }
    }
}

/// How a clustered node reaches its peers.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    pub node_name: String,
    pub peer_listen: SocketAddr,
    pub certs: PathBuf,
    pub join: Option<SocketAddr>,
    pub replicas: usize,
    pub max_voters: usize,
    pub snapshot_logs: u64,
    /// Failure domain this node advertises.
    pub zone: String,
    /// Placement weight this node advertises.
    pub capacity: u64,
    /// SWIM probe and suspicion periods.
    pub gossip: GossipTimings,
    /// The deliberately unsafe write-behind delay (chaos harness self-test), if on.
    pub unsafe_write_behind: Option<Duration>,
}

/// The resolved configuration of a node.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub node_id: u64,
    pub api: ApiConfig,
    pub reaper: ReaperConfig,
    pub auditor: AuditorConfig,
    pub replicator: ReplicatorConfig,
    pub json_logs: bool,
    /// `None` for a standalone node.
    pub cluster: Option<ClusterConfig>,
}

impl Config {
    /// Resolves flags/env over the optional TOML file over the embedded defaults.
    pub fn load(cli: ServeOptions, file: Option<&Path>) -> Result<Config, ConfigError> {
        let from_file = match file {
            None => ServeOptions::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                })?;
                toml::from_str(&text).map_err(|source| ConfigError::Parse {
                    path: path.to_path_buf(),
                    source,
                })?
            }
        };
        let o = cli.or(from_file);
        let replicator = replicator_config(&o);
        let reaper = reaper_config(&o);
        let auditor = auditor_config(&o);
        let cluster = match (o.peer_listen, o.certs) {
            (None, None) => None,
            (Some(peer_listen), Some(certs)) => {
                if peer_listen.ip().is_unspecified() {
                    return Err(ConfigError::UnspecifiedPeerAddr(peer_listen));
                }
                Some(ClusterConfig {
                    node_name: label("node-name", o.node_name.unwrap_or_else(|| "node1".into()))?,
                    peer_listen,
                    certs,
                    join: o.join,
                    replicas: o.replicas.unwrap_or(3),
                    max_voters: o.max_voters.unwrap_or(3),
                    snapshot_logs: o.snapshot_logs.unwrap_or(5000),
                    zone: label("zone", o.zone.unwrap_or_else(|| DEFAULT_ZONE.into()))?,
                    capacity: o.capacity.unwrap_or(DEFAULT_CAPACITY),
                    gossip: gossip_timings(o.gossip_probe_ms, o.gossip_suspect_ms)?,
                    unsafe_write_behind: o.unsafe_write_behind_ms.map(Duration::from_millis),
                })
            }
            _ => return Err(ConfigError::PartialCluster),
        };
        let defaults = ApiConfig::default();
        let auth = match o.default_identity {
            None => AuthConfig::default(),
            Some(s) => AuthConfig {
                default_identity: Identity::from_token(&s).ok_or(ConfigError::Identity(s))?,
            },
        };
        Ok(Config {
            data_dir: o.data_dir.unwrap_or_else(|| PathBuf::from("./data")),
            listen: o
                .listen
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 9292))),
            node_id: o.node_id.unwrap_or(1),
            api: ApiConfig {
                auth,
                max_json_body: o.max_json_body.unwrap_or(defaults.max_json_body),
                image_size_cap: o.image_size_cap.unwrap_or(defaults.image_size_cap),
                delayed_delete: o.delayed_delete.unwrap_or(defaults.delayed_delete),
            },
            reaper,
            auditor,
            replicator,
            json_logs: o.log_format.as_deref() == Some("json"),
            cluster,
        })
    }
}

/// Checks a name gossip carries (it must fit an advert).
fn label(what: &'static str, value: String) -> Result<String, ConfigError> {
    if value.is_empty() || value.len() > MAX_LABEL {
        return Err(ConfigError::Label { what, value });
    }
    Ok(value)
}

/// SWIM periods from milliseconds, with their defaults.
fn gossip_timings(
    probe_ms: Option<u64>,
    suspect_ms: Option<u64>,
) -> Result<GossipTimings, ConfigError> {
    let probe = probe_ms.unwrap_or(1000);
    let suspect = suspect_ms.unwrap_or(4000);
    if probe < 10 || suspect < probe {
        return Err(ConfigError::GossipTimings);
    }
    Ok(GossipTimings {
        probe: std::time::Duration::from_millis(probe),
        suspect: std::time::Duration::from_millis(suspect),
    })
}

/// The replicator's settings: the options given, defaults for the rest.
fn replicator_config(o: &ServeOptions) -> ReplicatorConfig {
    let d = ReplicatorConfig::default();
    let secs = std::time::Duration::from_secs;
    ReplicatorConfig {
        interval: o.replicator_interval.map_or(d.interval, secs),
        batch: o.replicator_batch.unwrap_or(d.batch).max(1),
        handoff_grace: o.handoff_grace.map_or(d.handoff_grace, secs),
    }
}

/// The reaper's settings: options over [`ReaperConfig::default`].
fn reaper_config(o: &ServeOptions) -> ReaperConfig {
    let d = ReaperConfig::default();
    let secs = |v: Option<u64>, d: Duration| v.map(Duration::from_secs).unwrap_or(d);
    ReaperConfig {
        interval: secs(o.reaper_interval, d.interval),
        grace: secs(o.reaper_grace, d.grace),
        scrub_time: secs(o.scrub_time, d.scrub_time),
        upload_timeout: secs(o.upload_timeout, d.upload_timeout),
    }
}

/// The auditor's settings: options over [`AuditorConfig::default`].
fn auditor_config(o: &ServeOptions) -> AuditorConfig {
    let d = AuditorConfig::default();
    AuditorConfig {
        rate: o.auditor_rate.unwrap_or(d.rate),
        period: o
            .auditor_period
            .map(Duration::from_secs)
            .unwrap_or(d.period),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_file_override_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:9999\"\nnode_id = 7\ndata_dir = \"/x\"\n",
        )
        .unwrap();
        let cli = ServeOptions {
            data_dir: Some("/y".into()),
            ..Default::default()
        };
        let c = Config::load(cli, Some(&path)).unwrap();
        assert_eq!(c.listen.port(), 9999);
        assert_eq!(c.node_id, 7);
        assert_eq!(c.data_dir, PathBuf::from("/y"));
        let d = Config::load(ServeOptions::default(), None).unwrap();
        assert_eq!(d.listen.to_string(), "127.0.0.1:9292");
        assert_eq!(d.reaper, ReaperConfig::default());
        assert_eq!(d.auditor, AuditorConfig::default());
        assert!(!d.api.delayed_delete);
        assert_eq!(d.data_dir, PathBuf::from("./data"));
    }

    #[test]
    fn loop_settings_come_from_file_and_flags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.toml");
        std::fs::write(
            &path,
            "delayed_delete = true\nscrub_time = 5\nauditor_rate = 1000\nreaper_grace = 9\n",
        )
        .unwrap();
        let cli = ServeOptions {
            auditor_period: Some(60),
            upload_timeout: Some(30),
            scrub_time: Some(7),
            ..Default::default()
        };
        let c = Config::load(cli, Some(&path)).unwrap();
        assert!(c.api.delayed_delete);
        assert_eq!(c.reaper.scrub_time, Duration::from_secs(7));
        assert_eq!(c.reaper.grace, Duration::from_secs(9));
        assert_eq!(c.reaper.upload_timeout, Duration::from_secs(30));
        assert_eq!(c.reaper.interval, ReaperConfig::default().interval);
        assert_eq!(c.auditor.rate, 1000);
        assert_eq!(c.auditor.period, Duration::from_secs(60));
    }

    #[test]
    fn unknown_keys_and_bad_identities_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.toml");
        std::fs::write(&path, "lisen = \"x\"\n").unwrap();
        assert!(Config::load(ServeOptions::default(), Some(&path)).is_err());
        let cli = ServeOptions {
            default_identity: Some("nobody".into()),
            ..Default::default()
        };
        assert!(Config::load(cli, None).is_err());
    }

    #[test]
    fn gossip_options_have_defaults_and_limits() {
        let clustered = |f: &dyn Fn(&mut ServeOptions)| {
            let mut o = ServeOptions {
                peer_listen: Some("127.0.0.1:7100".parse().unwrap()),
                certs: Some("/certs".into()),
                ..Default::default()
            };
            f(&mut o);
            Config::load(o, None)
        };
        let c = clustered(&|_| {}).unwrap().cluster.unwrap();
        assert_eq!(
            (c.zone.as_str(), c.capacity),
            (DEFAULT_ZONE, DEFAULT_CAPACITY)
        );
        assert_eq!(c.gossip.probe, std::time::Duration::from_secs(1));
        let c = clustered(&|o| {
            o.zone = Some("rack-2".into());
            o.capacity = Some(500);
            o.gossip_probe_ms = Some(100);
            o.gossip_suspect_ms = Some(300);
        })
        .unwrap()
        .cluster
        .unwrap();
        assert_eq!((c.zone.as_str(), c.capacity), ("rack-2", 500));
        assert_eq!(c.gossip.suspect, std::time::Duration::from_millis(300));
        assert!(clustered(&|o| o.zone = Some(String::new())).is_err());
        assert!(clustered(&|o| o.zone = Some("z".repeat(MAX_LABEL + 1))).is_err());
        assert!(clustered(&|o| o.gossip_suspect_ms = Some(10)).is_err());
    }
}
