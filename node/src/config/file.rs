//! The TOML config file: one serde struct per section, unknown keys refused, and every
//! default defined once, in the sections' `Default` impls (the workers' own defaults come
//! from their config types in `tessera_replication`, the API's from `ApiConfig`).

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use tessera_api::ApiConfig;
use tessera_domain::import::plugins::ProcessLimits;
use tessera_domain::import::{ImportMethod, UriFilter, DOWNLOAD_PROPERTIES};
use tessera_replication::setting::DurationRange;

use super::legacy::{self, Renamed};
use super::ConfigError;
use crate::http_server::HttpLimits;
use crate::logging::LogFormat;
use crate::stores::StoresSection;

/// The whole file. Top level: the node's identity and place in the cluster; sections: one
/// per subsystem.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FileConfig {
    /// Where the node keeps its metadata and chunks.
    pub data_dir: PathBuf,
    /// Where the node keeps its metadata (Raft log and state machine), when apart from the
    /// chunks [default: DATA_DIR/meta].
    pub metadata_dir: Option<PathBuf>,
    /// Bytes the chunk volume keeps free: no new chunk below it, and placement skips the node.
    pub reserve_bytes: u64,
    /// Bytes the metadata volume keeps free: below it only deletes are accepted.
    pub metadata_reserve_bytes: u64,
    /// Address of the Glance API.
    pub listen: SocketAddr,
    /// This node's Raft id.
    pub node_id: u64,
    /// This node's name: its certificate is `CERTS/NAME.pem`.
    pub node_name: String,
    /// UDP address of the node-to-node QUIC endpoint, as peers reach it.
    pub peer_listen: Option<SocketAddr>,
    /// Directory with `ca.pem` and this node's certificate and key.
    pub certs: Option<PathBuf>,
    /// Start even though `certs` holds the cluster CA key.
    pub allow_ca_key: bool,
    /// Peer address of a member of the cluster to join.
    pub join: Option<SocketAddr>,
    /// Failure domain this node advertises.
    pub zone: String,
    /// Placement weight this node advertises.
    pub capacity: u64,
    /// How log lines are written.
    pub log_format: LogFormat,
    /// Glance's `enabled_import_methods` (its `[DEFAULT]` option): the import methods
    /// offered, in the order `/v2/info/import` lists them [default: Glance's, all but
    /// `glance-download`].
    pub enabled_import_methods: Vec<String>,
    /// `[api]`: the Glance API.
    pub api: ApiSection,
    /// `[raft]`: the metadata log.
    pub raft: RaftSection,
    /// `[gossip]`: membership and failure detection.
    pub gossip: GossipSection,
    /// `[replicator]`: keeping every chunk at R copies.
    pub replicator: ReplicatorSection,
    /// `[auditor]`: re-hashing local chunks.
    pub auditor: AuditorSection,
    /// `[reaper]`: deleting what nothing references.
    pub reaper: ReaperSection,
    /// `[task]`: the task executor (Glance's `[task]` section).
    pub task: TaskSection,
    /// `[import_filtering_opts]`: which URLs `web-download` may fetch (Glance's section).
    pub import_filtering_opts: FilteringSection,
    /// `[image_import_opts]`: the import plugins (Glance's section).
    pub image_import_opts: ImportOptsSection,
    /// `[inject_metadata_properties]`: the `inject_image_metadata` plugin's settings.
    pub inject_metadata_properties: InjectSection,
    /// `[glance_download_properties]`: what `glance-download` copies (Glance's section).
    pub glance_download_properties: DownloadPropertiesSection,
    /// `[image_conversion]`: the `image_conversion` plugin's settings.
    pub image_conversion: ConversionSection,
    /// `[image_format]`: how strictly data must match its `disk_format`.
    pub image_format: ImageFormatSection,
    /// `[auth]`: how callers are identified.
    pub auth: AuthSection,
    /// `[limits]`: per-project unified limits from Keystone.
    pub limits: LimitsSection,
    /// `[stores]`: where image data may live (Glance's `enabled_backends`).
    pub stores: StoresSection,
    /// `[image_cache]`: this node's image cache (Glance's `image_cache_*` options).
    pub image_cache: ImageCacheSection,
}

/// `[image_cache]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImageCacheSection {
    /// Whether the node keeps an image cache and serves the cache API (Glance turns it on
    /// with `image_cache_dir`).
    pub enabled: bool,
    /// Glance's `image_cache_max_size`, in bytes: past it the least recently used images go.
    pub max_size: u64,
}

impl Default for ImageCacheSection {
    fn default() -> Self {
        ImageCacheSection {
            enabled: false,
            max_size: tessera_replication::cache::DEFAULT_MAX_SIZE,
        }
    }
}

/// Zone of a node that names none.
pub const DEFAULT_ZONE: &str = "default";
/// Placement weight of a node that names none: every node an equal share.
pub const DEFAULT_CAPACITY: u64 = 1;

impl Default for FileConfig {
    fn default() -> Self {
        FileConfig {
            data_dir: PathBuf::from("./data"),
            metadata_dir: None,
            reserve_bytes: crate::space::DEFAULT_RESERVE_BYTES,
            metadata_reserve_bytes: crate::space::DEFAULT_METADATA_RESERVE_BYTES,
            listen: SocketAddr::from(([127, 0, 0, 1], 9292)),
            node_id: 1,
            node_name: "node1".into(),
            peer_listen: None,
            certs: None,
            allow_ca_key: false,
            join: None,
            zone: DEFAULT_ZONE.into(),
            capacity: DEFAULT_CAPACITY,
            log_format: LogFormat::default(),
            enabled_import_methods: ImportMethod::DEFAULT
                .iter()
                .map(|m| m.as_str().to_string())
                .collect(),
            api: ApiSection::default(),
            raft: RaftSection::default(),
            gossip: GossipSection::default(),
            replicator: ReplicatorSection::default(),
            auditor: AuditorSection::default(),
            reaper: ReaperSection::default(),
            task: TaskSection::default(),
            import_filtering_opts: FilteringSection::default(),
            image_import_opts: ImportOptsSection::default(),
            inject_metadata_properties: InjectSection::default(),
            glance_download_properties: DownloadPropertiesSection::default(),
            image_conversion: ConversionSection::default(),
            image_format: ImageFormatSection::default(),
            image_cache: ImageCacheSection::default(),
            auth: AuthSection::default(),
            limits: LimitsSection::default(),
            stores: StoresSection::default(),
        }
    }
}

/// `[api]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiSection {
    /// Identity of requests without a noauth token, as `user:project:role[,role...]`;
    /// `None` keeps the API's default.
    pub default_identity: Option<String>,
    /// Largest JSON request body in bytes.
    pub max_json_body: usize,
    /// Largest image in bytes.
    pub image_size_cap: u64,
    /// Glance's delayed delete (see `[reaper] scrub_time`).
    pub delayed_delete: bool,
    /// oslo.policy YAML file whose rules replace Glance's defaults by name.
    pub policy_file: Option<PathBuf>,
    /// Glance's property protection file (INI; sections are property-name expressions).
    pub property_protection_file: Option<PathBuf>,
    /// How that file names who may act: `roles` (default) or `policies`.
    pub property_protection_rule_format: RuleFormat,
    /// Extra properties per image; negative: unlimited.
    pub image_property_quota: i64,
    /// Tags per image; negative: unlimited.
    pub image_tag_quota: i64,
    /// Members per image; negative: unlimited.
    pub image_member_quota: i64,
    /// Longest time a client may take to send a request's head (and an idle connection's
    /// life).
    #[serde(deserialize_with = "duration")]
    pub header_timeout: Duration,
    /// Longest wait for the next piece of a request body.
    #[serde(deserialize_with = "duration")]
    pub body_timeout: Duration,
    /// Most connections open at once.
    pub max_connections: usize,
    /// Most uploads at once on this node.
    pub max_uploads: usize,
    /// Most uploads at once of one project on this node.
    pub max_uploads_per_project: usize,
    /// PEM certificate chain for HTTPS (with `tls_key`).
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for HTTPS.
    pub tls_key: Option<PathBuf>,
    /// Base URL of the version document's links (Glance's `public_endpoint`).
    pub public_endpoint: Option<String>,
    /// Trust `X-Forwarded-Proto`/`-Host` from a proxy in front (Glance's
    /// `enable_proxy_headers_parsing`).
    pub enable_proxy_headers_parsing: bool,
    /// Glance's `do_secure_hash`: compute the digests of an image added by location.
    pub do_secure_hash: bool,
    /// Glance's `http_retries`: tries at reading a location's data for those digests.
    pub http_retries: u32,
    /// Glance's `show_multiple_locations`: images show `locations`, and the legacy `PATCH`
    /// forms on `/locations` edit them.
    pub show_multiple_locations: bool,
    /// Glance's `show_image_direct_url`: images show their first location as `direct_url`.
    pub show_image_direct_url: bool,
}

impl Default for ApiSection {
    fn default() -> Self {
        let api = ApiConfig::default();
        let http = HttpLimits::default();
        ApiSection {
            default_identity: None,
            max_json_body: api.max_json_body,
            image_size_cap: api.image_size_cap,
            delayed_delete: api.delayed_delete,
            policy_file: None,
            property_protection_file: None,
            property_protection_rule_format: RuleFormat::default(),
            image_property_quota: api.quotas.image_property_quota,
            image_tag_quota: api.quotas.image_tag_quota,
            image_member_quota: api.quotas.image_member_quota,
            header_timeout: http.header_timeout,
            body_timeout: api.body_timeout,
            max_connections: http.max_connections,
            max_uploads: api.uploads.per_node,
            max_uploads_per_project: api.uploads.per_project,
            tls_cert: None,
            tls_key: None,
            public_endpoint: None,
            enable_proxy_headers_parsing: api.proxy_headers,
            do_secure_hash: api.locations.do_secure_hash,
            http_retries: api.locations.http_retries,
            show_multiple_locations: api.locations.show_multiple_locations,
            show_image_direct_url: api.locations.show_image_direct_url,
        }
    }
}

/// How a property protection file names who may act (Glance's
/// `property_protection_rule_format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleFormat {
    /// Comma-separated role names, `@` (anyone) or `!` (no one).
    #[default]
    Roles,
    /// One policy rule name of the policy in force.
    Policies,
}

/// How callers are identified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// Development: the token names the caller (`user:project:roles`), anyone may be admin.
    #[default]
    Noauth,
    /// Production: tokens are validated with Keystone v3.
    Keystone,
}

/// `[auth]`: the mode, and in Keystone mode the service credentials, named as in Glance's
/// `[keystone_authtoken]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSection {
    /// `noauth` or `keystone`.
    pub mode: AuthMode,
    /// Accept `noauth` on an address other than loopback.
    pub insecure_noauth: bool,
    /// Keystone's URL, e.g. `http://keystone:5000/v3`.
    pub auth_url: Option<String>,
    /// Where clients are told to get tokens (`WWW-Authenticate`) [default: `auth_url`
    /// without its `/v3`].
    pub www_authenticate_uri: Option<String>,
    /// The service user that validates tokens.
    pub username: Option<String>,
    /// Its password.
    pub password: Option<String>,
    /// The project of the service user's token.
    pub project_name: Option<String>,
    /// The service user's domain.
    pub user_domain_name: String,
    /// The project's domain.
    pub project_domain_name: String,
    /// How long a validated token is trusted before Keystone is asked again (never past the
    /// token's expiry).
    #[serde(deserialize_with = "duration")]
    pub token_cache_time: Duration,
    /// How long a call to Keystone may take.
    #[serde(deserialize_with = "duration")]
    pub http_timeout: Duration,
}

impl Default for AuthSection {
    fn default() -> Self {
        AuthSection {
            mode: AuthMode::default(),
            insecure_noauth: false,
            auth_url: None,
            www_authenticate_uri: None,
            username: None,
            password: None,
            project_name: None,
            user_domain_name: "Default".into(),
            project_domain_name: "Default".into(),
            token_cache_time: Duration::from_secs(300),
            http_timeout: Duration::from_secs(10),
        }
    }
}

/// `[limits]`: Glance's `use_keystone_limits` and the `[oslo_limit]` endpoint options that say
/// which registered limits are the image service's (Keystone mode only).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsSection {
    /// Enforce `image_size_total`, `image_stage_total`, `image_count_total` and
    /// `image_count_uploading` read from Keystone.
    pub use_keystone_limits: bool,
    /// The image endpoint whose service and region own the limits.
    pub endpoint_id: Option<String>,
    /// Without `endpoint_id`: the service type to look the endpoint up by.
    pub endpoint_service_type: String,
    /// Without `endpoint_id`: the region to look the endpoint up in.
    pub endpoint_region_name: Option<String>,
    /// Without `endpoint_id`: the endpoint interface to look up.
    pub endpoint_interface: String,
}

impl Default for LimitsSection {
    fn default() -> Self {
        LimitsSection {
            use_keystone_limits: false,
            endpoint_id: None,
            endpoint_service_type: "image".into(),
            endpoint_region_name: None,
            endpoint_interface: "public".into(),
        }
    }
}

/// `[raft]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RaftSection {
    /// Voters the cluster keeps; further nodes are learners.
    pub max_voters: Voters,
    /// Log entries between snapshots.
    pub snapshot_logs: u64,
}

impl Default for RaftSection {
    fn default() -> Self {
        RaftSection {
            max_voters: Voters::try_from(tessera_raft::DEFAULT_MAX_VOTERS as u64)
                .expect("raft's default voter count is 3 or 5"),
            snapshot_logs: tessera_raft::DEFAULT_SNAPSHOT_LOGS,
        }
    }
}

/// How many Raft voters a cluster keeps: 3 or 5 (an odd quorum, small enough to be fast).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(try_from = "u64")]
pub enum Voters {
    /// Three voters: survives one failure.
    #[value(name = "3")]
    Three,
    /// Five voters: survives two failures.
    #[value(name = "5")]
    Five,
}

impl Voters {
    /// The number of voters.
    pub fn count(self) -> usize {
        match self {
            Voters::Three => 3,
            Voters::Five => 5,
        }
    }
}

impl TryFrom<u64> for Voters {
    type Error = &'static str;

    fn try_from(n: u64) -> Result<Self, Self::Error> {
        match n {
            3 => Ok(Voters::Three),
            5 => Ok(Voters::Five),
            _ => Err("max_voters must be 3 or 5"),
        }
    }
}

/// `[gossip]`: SWIM periods, durations by the one duration rule.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GossipSection {
    /// Time between two probes of a random member.
    #[serde(deserialize_with = "duration")]
    pub probe: Duration,
    /// Time a suspected member has to answer before it is declared down.
    #[serde(deserialize_with = "duration")]
    pub suspect: Duration,
}

impl Default for GossipSection {
    fn default() -> Self {
        GossipSection {
            probe: Duration::from_secs(1),
            suspect: Duration::from_secs(4),
        }
    }
}

/// `[replicator]`: the replication factor, and the replicator worker's settings (checked
/// and defaulted by `ReplicatorConfig`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReplicatorSection {
    /// Replication factor R: copies of every chunk.
    pub replicas: usize,
    /// Time between anti-entropy passes.
    pub interval: Option<SettingText>,
    /// Repair-queue entries or handoff chunks per step.
    pub batch: Option<SettingText>,
    /// Age before a chunk this node should not hold is handed off.
    pub handoff_grace: Option<SettingText>,
}

impl Default for ReplicatorSection {
    fn default() -> Self {
        ReplicatorSection {
            replicas: 3,
            interval: None,
            batch: None,
            handoff_grace: None,
        }
    }
}

/// `[auditor]`: the auditor worker's settings (checked and defaulted by `AuditorConfig`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditorSection {
    /// Bytes per second re-hashed at most.
    pub rate: Option<SettingText>,
    /// Time from one full pass to the next.
    pub period: Option<SettingText>,
}

/// `[reaper]`: the reaper worker's settings (checked and defaulted by `ReaperConfig`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReaperSection {
    /// Time between passes.
    pub interval: Option<SettingText>,
    /// Age before an unreferenced chunk may be deleted.
    pub grace: Option<SettingText>,
    /// Time a pending-delete image is kept before it is scrubbed.
    pub scrub_time: Option<SettingText>,
    /// Time after which an unfinished upload goes back to queued.
    pub upload_timeout: Option<SettingText>,
}

/// `[task]`: the task executor's settings (checked and defaulted by `ExecutorConfig`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TaskSection {
    /// How long a node's claim on a task holds without renewal.
    pub lease: Option<SettingText>,
    /// Glance's `task_time_to_live`: how long a finished task is kept.
    pub time_to_live: Option<SettingText>,
}

/// `[import_filtering_opts]`, as Glance's: each list replaces the default when given (an
/// empty allow-list allows all not disallowed).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FilteringSection {
    /// Schemes allowed [default: http, https].
    pub allowed_schemes: Option<Vec<String>>,
    /// Schemes refused when no allow-list is set.
    pub disallowed_schemes: Option<Vec<String>>,
    /// Hosts allowed; an allowed host may resolve to an internal address.
    pub allowed_hosts: Option<Vec<String>>,
    /// Hosts or addresses refused when no allow-list is set.
    pub disallowed_hosts: Option<Vec<String>>,
    /// Ports allowed [default: 80, 443].
    pub allowed_ports: Option<Vec<u16>>,
    /// Ports refused when no allow-list is set.
    pub disallowed_ports: Option<Vec<u16>>,
}

impl FilteringSection {
    /// The rules: Glance's defaults with each list given here replacing its default.
    pub fn filter(&self) -> UriFilter {
        let d = UriFilter::default();
        let or =
            |given: &Option<Vec<String>>, default: Vec<String>| given.clone().unwrap_or(default);
        UriFilter {
            allowed_schemes: or(&self.allowed_schemes, d.allowed_schemes),
            disallowed_schemes: or(&self.disallowed_schemes, d.disallowed_schemes),
            allowed_hosts: or(&self.allowed_hosts, d.allowed_hosts),
            disallowed_hosts: or(&self.disallowed_hosts, d.disallowed_hosts),
            allowed_ports: self.allowed_ports.clone().unwrap_or(d.allowed_ports),
            disallowed_ports: self.disallowed_ports.clone().unwrap_or(d.disallowed_ports),
        }
    }
}

/// `[image_import_opts]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImportOptsSection {
    /// Import plugins run on every import, in this order: `image_decompression`,
    /// `image_conversion`, `inject_image_metadata`.
    pub image_import_plugins: Vec<String>,
}

/// `[image_conversion]`: Glance's `output_format`, and the bounds of each `qemu-img` run.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConversionSection {
    /// `raw` or `qcow2` [default: raw].
    pub output_format: String,
    /// CPU time of one `qemu-img` run.
    #[serde(deserialize_with = "duration")]
    pub cpu_time: Duration,
    /// Bytes of address space of one `qemu-img` run.
    pub address_space: u64,
    /// Wall-clock time of one `qemu-img` run before it is killed.
    #[serde(deserialize_with = "duration")]
    pub timeout: Duration,
}

impl Default for ConversionSection {
    fn default() -> Self {
        let limits = ProcessLimits::default();
        ConversionSection {
            output_format: "raw".into(),
            cpu_time: Duration::from_secs(limits.cpu_seconds),
            address_space: limits.address_space,
            timeout: limits.timeout,
        }
    }
}

/// `[image_format]`, as Glance's.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImageFormatSection {
    /// Refuse data whose detected format is not its `disk_format` [default: true].
    pub require_image_format_match: bool,
}

impl Default for ImageFormatSection {
    fn default() -> Self {
        ImageFormatSection {
            require_image_format_match: true,
        }
    }
}

/// `[inject_metadata_properties]`, as Glance's.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InjectSection {
    /// Users with one of these roles get nothing injected [default: admin].
    pub ignore_user_roles: Vec<String>,
    /// The properties every other import gives its image.
    pub inject: BTreeMap<String, String>,
}

impl Default for InjectSection {
    fn default() -> Self {
        InjectSection {
            ignore_user_roles: vec!["admin".into()],
            inject: BTreeMap::new(),
        }
    }
}

/// `[glance_download_properties]`, as Glance's.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DownloadPropertiesSection {
    /// Prefixes of the remote image's properties `glance-download` copies [default: hw_,
    /// trait:, os_distro, os_secure_boot, os_type].
    pub extra_properties: Vec<String>,
}

impl Default for DownloadPropertiesSection {
    fn default() -> Self {
        DownloadPropertiesSection {
            extra_properties: DOWNLOAD_PROPERTIES.map(String::from).to_vec(),
        }
    }
}

/// A worker setting as the file writes it (a string, or a bare number), kept as text so it
/// goes through the same parser as the runtime API's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingText(pub String);

impl<'de> Deserialize<'de> for SettingText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TextVisitor).map(SettingText)
    }
}

/// Accepts a string or a number, as text.
struct TextVisitor;

impl Visitor<'_> for TextVisitor {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a number or a string such as \"30s\" or \"32MiB\"")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        Ok(v.to_string())
    }
}

/// A duration by the one duration rule (seconds, or a number with a unit).
fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = d.deserialize_any(TextVisitor)?;
    DurationRange::ANY
        .parse(&text)
        .map_err(|e| de::Error::custom(format!("{text:?}: {e}")))
}

/// Reads and parses the file at `path`, moving old flat keys to their sections.
pub fn read(path: &Path) -> Result<(FileConfig, Vec<Renamed>), ConfigError> {
    let parse_error = |source| ConfigError::Parse {
        path: path.to_path_buf(),
        source,
    };
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut table: toml::Table = toml::from_str(&text).map_err(parse_error)?;
    let renamed = legacy::move_flat_keys(&mut table)?;
    // Without old keys, parse the text itself: its errors point at a line.
    let file = if renamed.is_empty() {
        toml::from_str(&text)
    } else {
        toml::Value::Table(table).try_into()
    };
    Ok((file.map_err(parse_error)?, renamed))
}
