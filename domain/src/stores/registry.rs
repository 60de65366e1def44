//! The configured stores: each store's id, type, description, weight and read-only flag,
//! the default store, and the checks Glance makes when a request names a store.

use super::driver::{redact, StoreDriver};
use crate::error::DomainError;
use serde_json::{Map, Value};
use std::sync::Arc;
use tessera_raft::{ClusterCopy, DataRef, Image};
use tessera_replication::Policy;

/// Id of the one cluster store a node has when its config names no stores.
pub const CLUSTER_STORE: &str = "tessera";

/// The kinds of store, by Glance's driver type names (`cluster` is Tessera's own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// The cluster's replicated chunk store.
    Cluster,
    /// A directory (Glance's filesystem store).
    File,
    /// Read-only HTTP(S) URLs.
    Http,
    /// OpenStack object storage.
    Swift,
    /// An S3-compatible object store.
    S3,
}

impl StoreKind {
    /// Every kind.
    pub const ALL: [StoreKind; 5] = [
        StoreKind::Cluster,
        StoreKind::File,
        StoreKind::Http,
        StoreKind::Swift,
        StoreKind::S3,
    ];

    /// The name in config files and in `/v2/info/stores/detail`'s `type`.
    pub fn as_str(self) -> &'static str {
        match self {
            StoreKind::Cluster => "cluster",
            StoreKind::File => "file",
            StoreKind::Http => "http",
            StoreKind::Swift => "swift",
            StoreKind::S3 => "s3",
        }
    }

    /// The kind named `name`.
    pub fn parse(name: &str) -> Option<StoreKind> {
        StoreKind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// How a store's data is reached.
#[derive(Clone)]
pub enum Backend {
    /// Through the cluster's chunk store (the record's manifest), each chunk kept at
    /// `replicas` copies (`None`: the chunk store's configured R) in `zones`.
    Cluster {
        /// Copies of each chunk.
        replicas: Option<usize>,
        /// Zones the copies go to; empty: every zone.
        zones: Vec<String>,
    },
    /// Through a driver (the record's location URL).
    Driver(Arc<dyn StoreDriver>),
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Backend::Cluster { .. } => "Cluster",
            Backend::Driver(_) => "Driver",
        })
    }
}

/// One configured store.
#[derive(Debug, Clone)]
pub struct Store {
    /// Its id (Glance's backend name).
    pub id: String,
    /// Its kind.
    pub kind: StoreKind,
    /// What `/v2/info/stores` says of it, if anything.
    pub description: Option<String>,
    /// Reads prefer the copy in the store of highest weight.
    pub weight: i64,
    /// Refuses uploads and copies.
    pub read_only: bool,
    /// What `/v2/info/stores/detail` shows of its settings (never secrets).
    pub properties: Map<String, Value>,
    /// How its data is reached.
    pub backend: Backend,
}

impl Store {
    /// The built-in cluster store `id`.
    pub fn cluster(id: &str) -> Store {
        Store {
            id: id.to_string(),
            kind: StoreKind::Cluster,
            description: None,
            weight: 0,
            read_only: false,
            properties: Map::new(),
            backend: Backend::Cluster {
                replicas: None,
                zones: Vec::new(),
            },
        }
    }

    /// What a cluster store's copy of an image is recorded as: the store, the copies it
    /// keeps of each chunk (`default`: the chunk store's configured R) and its zones; `None`
    /// for a store of another kind.
    pub fn cluster_copy(&self, default: usize) -> Option<ClusterCopy> {
        match &self.backend {
            Backend::Cluster { replicas, zones } => Some(ClusterCopy {
                store: self.id.clone(),
                replicas: replicas.unwrap_or(default),
                zones: zones.clone(),
            }),
            Backend::Driver(_) => None,
        }
    }

    /// Where a cluster store places each chunk (`default`: the chunk store's configured R);
    /// the configured R anywhere for a store of another kind (never asked of one).
    pub fn policy(&self, default: usize) -> Policy {
        match &self.backend {
            Backend::Cluster { replicas, zones } => {
                Policy::in_zones(replicas.unwrap_or(default), zones.iter().cloned())
            }
            Backend::Driver(_) => Policy::everywhere(default),
        }
    }
}

/// Where the chunks of a cluster store's recorded copy go, as every node's loops read it.
pub fn copy_policy(copy: &ClusterCopy) -> Policy {
    Policy::in_zones(copy.replicas, copy.zones.iter().cloned())
}

/// Why a set of stores cannot be served.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StoresError {
    /// Two stores share an id.
    #[error("store id {0:?} is configured twice")]
    Duplicate(String),
    /// A store id is empty or reserved.
    #[error("store id {0:?} is not allowed (empty, or reserved: os_glance_*)")]
    BadId(String),
    /// The default store is not configured.
    #[error("the default store {0:?} is not one of the configured stores")]
    NoDefault(String),
    /// The default store only serves reads.
    #[error("the default store {0:?} is read-only")]
    ReadOnlyDefault(String),
    /// A cluster store marked read-only (staging and imports need it writable).
    #[error("the cluster store {0:?} cannot be read-only")]
    ReadOnlyCluster(String),
}

/// The configured stores and the default one.
#[derive(Debug, Clone)]
pub struct Stores {
    stores: Vec<Store>,
    default: usize,
}

impl Default for Stores {
    /// One cluster store, as a node without a `[stores]` section has.
    fn default() -> Self {
        Stores {
            stores: vec![Store::cluster(CLUSTER_STORE)],
            default: 0,
        }
    }
}

impl Stores {
    /// Checks and keeps `stores`, `default` being the id uploads go to when none is named.
    pub fn new(stores: Vec<Store>, default: &str) -> Result<Stores, StoresError> {
        for (i, s) in stores.iter().enumerate() {
            if s.id.is_empty() || s.id.starts_with("os_glance") || s.id.contains(',') {
                return Err(StoresError::BadId(s.id.clone()));
            }
            if stores[..i].iter().any(|o| o.id == s.id) {
                return Err(StoresError::Duplicate(s.id.clone()));
            }
            if s.kind == StoreKind::Cluster && s.read_only {
                return Err(StoresError::ReadOnlyCluster(s.id.clone()));
            }
        }
        let Some(at) = stores.iter().position(|s| s.id == default) else {
            return Err(StoresError::NoDefault(default.to_string()));
        };
        if stores[at].read_only {
            return Err(StoresError::ReadOnlyDefault(default.to_string()));
        }
        Ok(Stores {
            stores,
            default: at,
        })
    }

    /// Every store, in configuration order.
    pub fn all(&self) -> &[Store] {
        &self.stores
    }

    /// The store uploads go to when none is named.
    pub fn default_store(&self) -> &Store {
        &self.stores[self.default]
    }

    /// The store `id`, if configured.
    pub fn get(&self, id: &str) -> Option<&Store> {
        self.stores.iter().find(|s| s.id == id)
    }

    /// The id the chunk store's copies recorded without a store are shown under: the first
    /// cluster store's, or the built-in id when none is configured (data written before the
    /// stores were changed).
    pub fn cluster_id(&self) -> &str {
        self.stores
            .iter()
            .find(|s| s.kind == StoreKind::Cluster)
            .map_or(CLUSTER_STORE, |s| &s.id)
    }

    /// The store an upload naming `id` (none: the default) writes to; Glance's 400 for an
    /// unknown store and 410 for a read-only one.
    pub fn writable(&self, id: Option<&str>) -> Result<&Store, DomainError> {
        let store = match id {
            None => self.default_store(),
            Some(id) => self.get(id).ok_or_else(|| {
                DomainError::Invalid(format!("Unknown scheme '{id}' found in URI"))
            })?,
        };
        if store.read_only {
            return Err(DomainError::Gone(
                "Error in store configuration. Adding images to store is disabled.".into(),
            ));
        }
        Ok(store)
    }

    /// The ids of the stores holding `img`'s data, as its `stores` field lists them: highest
    /// weight first, as Glance sorts locations (a store not configured here weighs 0); a
    /// store holding several of its locations (an `http` store's) named once.
    pub fn ids_of(&self, img: &Image) -> Vec<String> {
        let cluster = img
            .data
            .as_ref()
            .map_or_else(Vec::new, |d| self.cluster_ids(d));
        let mut ids: Vec<String> = Vec::new();
        for id in cluster
            .into_iter()
            .chain(img.locations.iter().map(|l| l.store.clone()))
        {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        ids.sort_by_key(|id| std::cmp::Reverse(self.get(id).map_or(0, |s| s.weight)));
        ids
    }

    /// The cluster stores holding `data`: those recorded, or the first cluster store for a
    /// record written before several could be.
    fn cluster_ids(&self, data: &DataRef) -> Vec<String> {
        if data.stores.is_empty() {
            return vec![self.cluster_id().to_string()];
        }
        data.stores.iter().map(|c| c.store.clone()).collect()
    }

    /// The cluster stores' copies recorded in `data`; a record written before several
    /// cluster stores could be is the first cluster store's copy at the configured R
    /// (`default`), as the loops read it.
    pub fn cluster_copies(&self, data: &DataRef, default: usize) -> Vec<ClusterCopy> {
        if !data.stores.is_empty() {
            return data.stores.clone();
        }
        vec![ClusterCopy {
            store: self.cluster_id().to_string(),
            replicas: default,
            zones: Vec::new(),
        }]
    }

    /// The first configured store (in configuration order) whose driver owns `url`; cluster
    /// stores own no URL, their copies being the record's manifest.
    pub fn owner_of(&self, url: &str) -> Option<&Store> {
        self.stores.iter().find(|s| match &s.backend {
            Backend::Driver(driver) => driver.owns(url),
            Backend::Cluster { .. } => false,
        })
    }

    /// The stores holding `img`'s data that this node has configured, highest weight first
    /// (ties in the image's order, the chunk store's copy first).
    pub fn by_weight(&self, img: &Image) -> Vec<&Store> {
        self.ids_of(img)
            .iter()
            .filter_map(|id| self.get(id))
            .collect()
    }

    /// Removes the data of every driver copy of `img` (a deleted image); a failure is logged,
    /// the record being gone already (the chunk store's copy goes to the reaper).
    pub async fn remove_copies(&self, img: &Image) {
        for loc in &img.locations {
            let Some(Backend::Driver(driver)) = self.get(&loc.store).map(|s| &s.backend) else {
                tracing::warn!(image_id = %img.id, store = %loc.store, "copy in a store not configured here left in place");
                continue;
            };
            match driver.delete(&loc.url).await {
                Ok(()) => {
                    tracing::info!(image_id = %img.id, store = %loc.store, "image data removed from store")
                }
                Err(e) => {
                    tracing::warn!(image_id = %img.id, store = %loc.store, url = %redact(&loc.url), error = %e, "could not remove image data from store")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stores::{ByteStream, StoreError};
    use tessera_raft::Location;

    fn file(id: &str, weight: i64, read_only: bool) -> Store {
        Store {
            kind: StoreKind::File,
            weight,
            read_only,
            ..Store::cluster(id)
        }
    }

    #[test]
    fn default_is_one_cluster_store() {
        let s = Stores::default();
        assert_eq!(s.all().len(), 1);
        assert_eq!(s.default_store().id, CLUSTER_STORE);
        assert_eq!(s.default_store().kind, StoreKind::Cluster);
    }

    #[test]
    fn bad_sets_are_refused() {
        let c = || Store::cluster("c");
        assert_eq!(
            Stores::new(vec![c(), c()], "c").unwrap_err(),
            StoresError::Duplicate("c".into())
        );
        assert_eq!(
            Stores::new(vec![c()], "x").unwrap_err(),
            StoresError::NoDefault("x".into())
        );
        assert_eq!(
            Stores::new(vec![c(), file("w", 0, true)], "w").unwrap_err(),
            StoresError::ReadOnlyDefault("w".into())
        );
        assert_eq!(
            Stores::new(vec![Store::cluster("os_glance_staging_store")], "c").unwrap_err(),
            StoresError::BadId("os_glance_staging_store".into())
        );
    }

    #[test]
    fn writable_gives_glances_errors() {
        let s = Stores::new(vec![Store::cluster("c"), file("w", 0, true)], "c").unwrap();
        assert_eq!(s.writable(None).unwrap().id, "c");
        assert!(
            matches!(s.writable(Some("nope")), Err(DomainError::Invalid(m)) if m == "Unknown scheme 'nope' found in URI")
        );
        assert!(matches!(s.writable(Some("w")), Err(DomainError::Gone(_))));
    }

    #[test]
    fn reads_prefer_the_heaviest_store() {
        let s = Stores::new(
            vec![
                Store::cluster("c"),
                file("f", 5, false),
                file("g", 1, false),
            ],
            "c",
        )
        .unwrap();
        let mut img = Image::new("i".into(), None, 0);
        img.data = Some(DataRef::new("m".into()));
        for store in ["g", "f", "gone"] {
            img.locations.push(Location {
                store: store.into(),
                url: format!("file:///{store}"),
            });
        }
        assert_eq!(s.ids_of(&img), ["f", "g", "c", "gone"]);
        let order: Vec<_> = s.by_weight(&img).iter().map(|s| s.id.as_str()).collect();
        assert_eq!(order, ["f", "g", "c"]);
    }

    #[test]
    fn cluster_stores_keep_their_own_copies() {
        let cluster = |id: &str, weight, replicas, zones: &[&str]| Store {
            weight,
            backend: Backend::Cluster {
                replicas,
                zones: zones.iter().map(|z| z.to_string()).collect(),
            },
            ..Store::cluster(id)
        };
        let s = Stores::new(
            vec![
                cluster("economy", 1, Some(2), &["rack-1"]),
                cluster("fast", 5, Some(3), &[]),
                cluster("plain", 0, None, &[]),
                file("f", 0, false),
            ],
            "fast",
        )
        .unwrap();
        let copy = |store: &str, replicas, zones: &[&str]| ClusterCopy {
            store: store.into(),
            replicas,
            zones: zones.iter().map(|z| z.to_string()).collect(),
        };
        let economy = s.get("economy").unwrap().cluster_copy(3);
        assert_eq!(economy, Some(copy("economy", 2, &["rack-1"])));
        let plain = s.get("plain").unwrap().cluster_copy(4);
        assert_eq!(plain, Some(copy("plain", 4, &[])));
        let mut img = Image::new("i".into(), None, 0);
        img.data = Some(DataRef {
            manifest: "m".into(),
            stores: vec![copy("economy", 2, &["rack-1"]), copy("fast", 3, &[])],
        });
        assert_eq!(s.ids_of(&img), ["fast", "economy"]);
        let data = img.data.as_ref().unwrap();
        assert_eq!(s.cluster_copies(data, 3), data.stores);
        // A record from before several cluster stores: the first one's copy, at the
        // configured R (what every node's loops keep for it).
        let legacy = DataRef::new("m".into());
        assert_eq!(s.cluster_copies(&legacy, 3), [copy("economy", 3, &[])]);
        img.data = Some(legacy);
        assert_eq!(s.ids_of(&img), ["economy"]);
    }

    /// A driver owning the URLs that start with its prefix; nothing else is asked of it.
    struct Prefixed(&'static str);

    #[async_trait::async_trait]
    impl StoreDriver for Prefixed {
        async fn put(&self, _: &str, _: ByteStream, _: Option<u64>) -> Result<String, StoreError> {
            Err(StoreError::ReadOnly)
        }
        async fn get(
            &self,
            location: &str,
            _: u64,
            _: Option<u64>,
        ) -> Result<ByteStream, StoreError> {
            Err(StoreError::NotFound(location.into()))
        }
        async fn delete(&self, _: &str) -> Result<(), StoreError> {
            Ok(())
        }
        async fn size(&self, location: &str) -> Result<u64, StoreError> {
            Err(StoreError::NotFound(location.into()))
        }
        fn owns(&self, location: &str) -> bool {
            location.starts_with(self.0)
        }
    }

    #[test]
    fn a_url_is_the_first_owning_stores() {
        let driver = |id: &str, prefix| Store {
            kind: StoreKind::Swift,
            backend: Backend::Driver(Arc::new(Prefixed(prefix))),
            ..Store::cluster(id)
        };
        let s = Stores::new(
            vec![
                Store::cluster("c"),
                driver("a", "swift+http://h/a/"),
                driver("wide", "swift+http://h/"),
                driver("b", "swift+http://h/b/"),
            ],
            "c",
        )
        .unwrap();
        let owner = |url| s.owner_of(url).map(|s| s.id.as_str());
        assert_eq!(owner("swift+http://h/a/o"), Some("a"));
        // Configuration order decides between stores owning the same URL.
        assert_eq!(owner("swift+http://h/b/o"), Some("wide"));
        // Cluster stores own no URL, not even the form their copies are shown in.
        assert_eq!(owner("tessera://c/i"), None);
        assert_eq!(owner("s3://h/b/o"), None);
    }
}
