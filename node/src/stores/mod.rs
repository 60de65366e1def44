//! The store drivers that do I/O, one file each (`file`, `http`, `swift`, `s3`; the cluster
//! store is the chunk store itself), and the building of the configured stores from the `[stores]`
//! section: each store's common keys here, its driver's options one serde struct in the
//! driver's file, deserialized from the rest of the store's table.

mod file;
mod http;
mod object_io;
pub mod s3;
pub mod swift;
mod swift_auth;

pub use file::{FileOptions, FileStore};
pub use http::{HttpOptions, HttpStore};
pub use object_io::OpenError;

use crate::cluster::MAX_LABEL;
use serde::Deserialize;
use std::sync::Arc;
use tessera_domain::import::UriFilter;
use tessera_domain::stores::{Backend, Store, StoreKind, Stores, StoresError};

/// `[stores]`: the stores image data may live in (Glance's `enabled_backends`). Without any,
/// a node has one `cluster` store, `tessera`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoresSection {
    /// The store uploads go to when none is named (default: the first one).
    pub default: Option<String>,
    /// The stores, `[[stores.store]]` tables.
    pub store: Vec<StoreEntry>,
}

/// One `[[stores.store]]`: the keys every store has, and its driver's options.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct StoreEntry {
    /// Its id.
    pub id: String,
    /// `cluster`, `file`, `http`, `swift` or `s3`.
    pub driver: String,
    /// Shown by `/v2/info/stores`.
    #[serde(default)]
    pub description: Option<String>,
    /// Reads prefer the store of highest weight.
    #[serde(default)]
    pub weight: i64,
    /// Refuses uploads (an `http` store always does).
    #[serde(default)]
    pub read_only: bool,
    /// The driver's own keys.
    #[serde(flatten)]
    pub options: toml::Table,
}

/// The `cluster` driver's options.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterOptions {
    /// Copies of each chunk of this store's images (default `[replicator] replicas`); a
    /// chunk shared with another store's image keeps the most either asks for.
    pub replicas: Option<usize>,
    /// Zones (nodes' `zone`) this store's copies are confined to; empty: every zone. A
    /// chunk shared with a store of other zones gets the copies each asks for in its own.
    pub zones: Vec<String>,
}

/// Most copies a cluster store may keep of each chunk (placement caps it at the live nodes).
const MAX_REPLICAS: usize = 16;

/// Why `[stores]` cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum StoresConfigError {
    /// A driver Tessera does not have.
    #[error(
        "[stores] store {id}: no driver {driver:?} here (there are cluster, file, http, swift, s3)"
    )]
    UnknownDriver {
        /// The store.
        id: String,
        /// The driver named.
        driver: String,
    },
    /// The driver's options do not fit.
    #[error("[stores] store {id}: {source}")]
    Options {
        /// The store.
        id: String,
        /// Why.
        source: toml::de::Error,
    },
    /// The driver could not be set up.
    #[error("[stores] store {id}: {reason}")]
    Driver {
        /// The store.
        id: String,
        /// Why.
        reason: String,
    },
    /// The set of stores breaks a rule.
    #[error("[stores]: {0}")]
    Invalid(#[from] StoresError),
}

fn options<T: serde::de::DeserializeOwned>(entry: &StoreEntry) -> Result<T, StoresConfigError> {
    T::deserialize(toml::Value::Table(entry.options.clone())).map_err(|source| {
        StoresConfigError::Options {
            id: entry.id.clone(),
            source,
        }
    })
}

/// The stores `section` configures on a node keeping `replicas` copies of each chunk;
/// `filter` is the address rules the `http` driver reads through.
pub fn build(
    section: &StoresSection,
    replicas: usize,
    filter: &UriFilter,
) -> Result<Stores, StoresConfigError> {
    if section.store.is_empty() {
        return Ok(Stores::default());
    }
    let mut stores = Vec::new();
    for entry in &section.store {
        let fail = |reason: String| StoresConfigError::Driver {
            id: entry.id.clone(),
            reason,
        };
        let kind =
            StoreKind::parse(&entry.driver).ok_or_else(|| StoresConfigError::UnknownDriver {
                id: entry.id.clone(),
                driver: entry.driver.clone(),
            })?;
        let mut properties = serde_json::Map::new();
        let backend = match kind {
            StoreKind::Cluster => {
                let o: ClusterOptions = options(entry)?;
                let r = o.replicas.unwrap_or(replicas);
                if !(1..=MAX_REPLICAS).contains(&r) {
                    return Err(fail(format!(
                        "replicas = {r}: a cluster store keeps 1 to {MAX_REPLICAS} copies of each chunk"
                    )));
                }
                if let Some(z) = o.zones.iter().find(|z| z.is_empty() || z.len() > MAX_LABEL) {
                    return Err(fail(format!(
                        "zones: {z:?} is no zone name (1 to {MAX_LABEL} bytes)"
                    )));
                }
                properties.insert("replicas".into(), r.into());
                if !o.zones.is_empty() {
                    properties.insert("zones".into(), o.zones.clone().into());
                }
                Backend::Cluster {
                    replicas: Some(r),
                    zones: o.zones,
                }
            }
            StoreKind::File => {
                let o: FileOptions = options(entry)?;
                let store = FileStore::open(&o.path).map_err(|e| fail(e.to_string()))?;
                properties.insert("data_dir".into(), store.dir().display().to_string().into());
                Backend::Driver(Arc::new(store))
            }
            StoreKind::Http => {
                let _: HttpOptions = options(entry)?;
                Backend::Driver(Arc::new(HttpStore::new(filter.clone())))
            }
            StoreKind::Swift => {
                let o: swift::SwiftOptions = options(entry)?;
                properties.insert("container".into(), o.container.clone().into());
                let store = swift::SwiftStore::new(o).map_err(|e| fail(e.to_string()))?;
                Backend::Driver(Arc::new(store))
            }
            StoreKind::S3 => {
                let o: s3::S3Options = options(entry)?;
                properties.insert("bucket".into(), o.bucket.clone().into());
                let store = s3::S3Store::new(o).map_err(|e| fail(e.to_string()))?;
                Backend::Driver(Arc::new(store))
            }
        };
        stores.push(Store {
            id: entry.id.clone(),
            kind,
            description: entry.description.clone(),
            weight: entry.weight,
            read_only: entry.read_only || kind == StoreKind::Http,
            properties,
            backend,
        });
    }
    let default = section
        .default
        .clone()
        .unwrap_or_else(|| section.store[0].id.clone());
    Ok(Stores::new(stores, &default)?)
}

/// All the bytes of a driver's stream (tests of the drivers).
#[cfg(test)]
async fn collect(mut s: tessera_domain::stores::ByteStream) -> Vec<u8> {
    use futures::StreamExt;
    let mut out = Vec::new();
    while let Some(b) = s.next().await {
        out.extend_from_slice(&b.unwrap());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_replication::Policy;

    fn section(text: &str) -> StoresSection {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn no_stores_is_one_cluster_store() {
        let s = build(&StoresSection::default(), 3, &UriFilter::default()).unwrap();
        assert_eq!(s.default_store().id, "tessera");
    }

    #[test]
    fn stores_are_built_from_their_tables() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            r#"
            default = "fast"
            [[store]]
            id = "fast"
            driver = "cluster"
            weight = 10
            [[store]]
            id = "files"
            driver = "file"
            description = "a directory"
            path = "{}"
            [[store]]
            id = "web"
            driver = "http"
            [[store]]
            id = "objects"
            driver = "swift"
            auth_address = "http://127.0.0.1:1/auth/v1.0"
            user = "test:tester"
            key = "testing"
            [[store]]
            id = "bucket"
            driver = "s3"
            endpoint = "http://127.0.0.1:1"
            access_key = "a"
            secret_key = "s"
            bucket = "images"
            "#,
            dir.path().join("images").display()
        );
        let s = build(&section(&text), 3, &UriFilter::default()).unwrap();
        let ids: Vec<_> = s.all().iter().map(|s| s.id.as_str()).collect();
        // Unreachable object stores still build: nothing is contacted until a request.
        assert_eq!(ids, ["fast", "files", "web", "objects", "bucket"]);
        assert_eq!(s.get("objects").unwrap().kind, StoreKind::Swift);
        assert_eq!(s.get("bucket").unwrap().properties["bucket"], "images");
        assert!(s.get("web").unwrap().read_only);
        assert!(dir.path().join("images").is_dir());
        assert_eq!(s.get("fast").unwrap().weight, 10);
        assert_eq!(s.get("fast").unwrap().properties["replicas"], 3);
    }

    #[test]
    fn cluster_stores_have_their_own_replicas() {
        let text = r#"
            [[store]]
            id = "fast"
            driver = "cluster"
            [[store]]
            id = "economy"
            driver = "cluster"
            replicas = 2
            zones = ["rack-2", "rack-1"]
            "#;
        let s = build(&section(text), 3, &UriFilter::default()).unwrap();
        let (fast, economy) = (s.get("fast").unwrap(), s.get("economy").unwrap());
        assert_eq!(fast.policy(5), Policy::everywhere(3));
        let racks = ["rack-1".to_string(), "rack-2".to_string()];
        assert_eq!(economy.policy(5), Policy::in_zones(2, racks));
        assert_eq!(economy.properties["replicas"], 2);
        assert_eq!(
            economy.properties["zones"],
            serde_json::json!(["rack-2", "rack-1"])
        );
        assert!(!fast.properties.contains_key("zones"));
        assert_eq!(s.default_store().id, "fast");
        let bad = "[[store]]\nid = \"a\"\ndriver = \"cluster\"\nzones = [\"\"]";
        let err = build(&section(bad), 3, &UriFilter::default()).unwrap_err();
        assert!(err.to_string().contains("no zone name"), "{err}");
    }

    #[test]
    fn bad_tables_are_refused() {
        let err = |text: &str| {
            build(&section(text), 3, &UriFilter::default())
                .unwrap_err()
                .to_string()
        };
        assert!(err("[[store]]\nid = \"a\"\ndriver = \"rbd\"").contains("no driver \"rbd\""));
        assert!(
            err("[[store]]\nid = \"a\"\ndriver = \"file\"\npath = \"/tmp/x\"\nbogus = 1")
                .contains("bogus")
        );
        assert!(
            err("[[store]]\nid = \"a\"\ndriver = \"cluster\"\nreplicas = 0")
                .contains("store a: replicas = 0: a cluster store keeps 1 to 16 copies")
        );
        assert!(err("[[store]]\nid = \"a\"\ndriver = \"http\"").contains("read-only"));
        let swift = "[[store]]\nid = \"sw\"\ndriver = \"swift\"\nuser = \"a:u\"\nkey = \"k\"\n";
        assert!(err(&format!(
            "{swift}auth_address = \"http://h/v2.0\"\nauth_version = 2"
        ))
        .contains("store sw: invalid store option auth_version = 2"));
        assert!(err(
            "[[store]]\nid = \"sw\"\ndriver = \"swift\"\nuser = \"u\"\nkey = \"k\"\n\
                     auth_address = \"http://h/v3\"\nauth_version = 3"
        )
        .contains("Keystone v3 needs \"project:user\""));
        assert!(err(&format!("{swift}auth_address = \"ftp://h/\"")).contains("not an http(s) URL"));
        assert!(err(swift).contains("missing field `auth_address`"));
        let s3 = "[[store]]\nid = \"b\"\ndriver = \"s3\"\naccess_key = \"a\"\nsecret_key = \"s\"\nbucket = \"x\"\n";
        assert!(err(&format!("{s3}endpoint = \"not a url\""))
            .contains("store b: invalid store option endpoint"));
        assert!(err(&format!("{s3}endpoint = \"http://h\"\nbuckett = 1")).contains("buckett"));
    }
}
