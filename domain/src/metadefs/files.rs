//! Glance's metadef files (`etc/metadefs/*.json`): loading them as `glance-manage
//! db_load_metadefs` does (skip, merge, prefer-new, overwrite), exporting every namespace in
//! the same format (`db_export_metadefs`), and unloading everything (`db_unload_metadefs`).
//!
//! Like Glance's loader these write records as the files give them, past the API's schema
//! and protection rules (an operator's tool), and only an admin may run them. Each file is
//! one namespace and loads in one all-or-nothing write.

use super::model::{Association, Namespace, Object, PropertyDef, ResourceType, Tag, Visibility};
use super::store;
use crate::caller::Caller;
use crate::docs::{self, Written};
use crate::error::DomainError;
use crate::service::Glance;
use crate::write::{now, MAX_CAS_ATTEMPTS};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tessera_raft::Expect;

/// What to do with a namespace that already exists (`db_load_metadefs` options).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LoadMode {
    /// Leave it as it is (the default).
    #[default]
    Skip,
    /// Add what the file has and the namespace lacks (`--merge`).
    Merge,
    /// Merge, and let the file's version win where both have one (`--merge --prefer_new`).
    PreferNew,
    /// Replace it with the file's (`--merge --overwrite`).
    Overwrite,
}

/// What loading one file did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Loaded {
    /// The namespace was new.
    Created,
    /// It existed and was left alone.
    Skipped,
    /// It existed and the file was merged in.
    Merged,
    /// It existed and was replaced.
    Overwritten,
}

/// A resource-type association in a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileAssociation {
    /// The resource type.
    pub name: String,
    /// Property prefix.
    #[serde(default)]
    pub prefix: Option<String>,
    /// Properties target.
    #[serde(default)]
    pub properties_target: Option<String>,
}

/// An object in a file (Glance's loader keeps its name, description and properties).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileObject {
    /// Name.
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Property definitions.
    #[serde(default)]
    pub properties: Option<BTreeMap<String, PropertyDef>>,
}

/// A tag in a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileTag {
    /// Name.
    pub name: String,
}

/// One metadef file: a namespace and its contents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetadefFile {
    /// Name.
    pub namespace: String,
    /// Display name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// `public` or `private`.
    #[serde(default)]
    pub visibility: Option<Visibility>,
    /// Protected from deletion.
    #[serde(default)]
    pub protected: Option<bool>,
    /// Owner (Glance's loader: `admin` when absent; its export leaves it out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Associations.
    #[serde(default)]
    pub resource_type_associations: Vec<FileAssociation>,
    /// Properties.
    #[serde(default)]
    pub properties: BTreeMap<String, PropertyDef>,
    /// Objects.
    #[serde(default)]
    pub objects: Vec<FileObject>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<FileTag>,
}

impl MetadefFile {
    /// The file name Glance's export gives it: the display name's word characters.
    pub fn file_name(&self) -> String {
        let base: String = self
            .display_name
            .as_deref()
            .unwrap_or(&self.namespace)
            .chars()
            .filter(|c| c.is_alphanumeric())
            .collect();
        format!("{base}.json")
    }

    fn namespace_record(&self, t: i64) -> Namespace {
        let mut ns = Namespace {
            namespace: self.namespace.clone(),
            display_name: None,
            description: None,
            visibility: Visibility::Private,
            protected: false,
            owner: None,
            created_at: t,
            updated_at: t,
            properties: BTreeMap::new(),
            objects: Vec::new(),
            tags: Vec::new(),
            associations: Vec::new(),
        };
        self.set_fields(&mut ns);
        self.merge_into(&mut ns, false, t);
        ns
    }

    fn set_fields(&self, ns: &mut Namespace) {
        ns.display_name = self.display_name.clone();
        ns.description = self.description.clone();
        ns.visibility = self.visibility.unwrap_or(Visibility::Private);
        ns.protected = self.protected.unwrap_or(false);
        ns.owner = Some(self.owner.clone().unwrap_or_else(|| "admin".into()));
    }

    /// Adds what `ns` lacks; with `prefer_new`, the file's version replaces what both have.
    fn merge_into(&self, ns: &mut Namespace, prefer_new: bool, t: i64) {
        for a in &self.resource_type_associations {
            let new = Association {
                name: a.name.clone(),
                prefix: a.prefix.clone(),
                properties_target: a.properties_target.clone(),
                created_at: t,
                updated_at: t,
            };
            match ns.associations.iter_mut().find(|x| x.name == a.name) {
                None => ns.associations.push(new),
                Some(x) if prefer_new => {
                    x.prefix = new.prefix;
                    x.properties_target = new.properties_target;
                    x.updated_at = t;
                }
                Some(_) => {}
            }
        }
        for (name, def) in &self.properties {
            if prefer_new || !ns.properties.contains_key(name) {
                ns.properties.insert(name.clone(), def.clone());
            }
        }
        for o in &self.objects {
            match ns.objects.iter_mut().find(|x| x.name == o.name) {
                None => ns.objects.push(Object {
                    name: o.name.clone(),
                    description: o.description.clone(),
                    required: None,
                    properties: o.properties.clone(),
                    created_at: t,
                    updated_at: t,
                }),
                Some(x) if prefer_new => {
                    x.description = o.description.clone();
                    x.properties = o.properties.clone();
                    x.updated_at = t;
                }
                Some(_) => {}
            }
        }
        for tag in &self.tags {
            match ns.tags.iter_mut().find(|x| x.name == tag.name) {
                None => ns.tags.push(Tag {
                    name: tag.name.clone(),
                    created_at: t,
                    updated_at: t,
                }),
                Some(x) if prefer_new => x.updated_at = t,
                Some(_) => {}
            }
        }
    }

    /// The file Glance's export writes for `ns` (no owner, no times).
    pub fn of(ns: &Namespace) -> MetadefFile {
        MetadefFile {
            namespace: ns.namespace.clone(),
            display_name: ns.display_name.clone(),
            description: ns.description.clone(),
            visibility: Some(ns.visibility),
            protected: Some(ns.protected),
            owner: None,
            resource_type_associations: ns
                .associations
                .iter()
                .map(|a| FileAssociation {
                    name: a.name.clone(),
                    prefix: a.prefix.clone(),
                    properties_target: a.properties_target.clone(),
                })
                .collect(),
            properties: ns.properties.clone(),
            objects: ns
                .objects
                .iter()
                .map(|o| FileObject {
                    name: o.name.clone(),
                    description: o.description.clone(),
                    properties: o.properties.clone(),
                })
                .collect(),
            tags: ns
                .tags
                .iter()
                .map(|t| FileTag {
                    name: t.name.clone(),
                })
                .collect(),
        }
    }
}

fn require_admin(glance: &Glance, who: &Caller, action: &str) -> Result<(), DomainError> {
    if glance.metadef_access(who).is_admin() {
        Ok(())
    } else {
        Err(crate::access::refuse(action))
    }
}

impl Glance {
    /// Loads one metadef file (admin only), creating the resource types it names as Glance's
    /// loader does (protected).
    pub async fn load_metadef_file(
        &self,
        who: &Caller,
        file: &MetadefFile,
        mode: LoadMode,
    ) -> Result<Loaded, DomainError> {
        require_admin(self, who, "load_metadefs")?;
        let name = file.namespace.as_str();
        let types: Vec<&str> = file
            .resource_type_associations
            .iter()
            .map(|a| a.name.as_str())
            .collect();
        for _ in 0..MAX_CAS_ATTEMPTS {
            let t = now();
            let current = docs::get::<Namespace>(&self.meta, name).await?;
            let (loaded, expect, ns) = match (current, mode) {
                (None, _) => (Loaded::Created, Expect::Absent, file.namespace_record(t)),
                (Some(_), LoadMode::Skip) => return Ok(Loaded::Skipped),
                (Some(s), LoadMode::Overwrite) => (
                    Loaded::Overwritten,
                    Expect::Revision(s.revision),
                    file.namespace_record(t),
                ),
                (Some(s), m) => {
                    let mut ns = s.value;
                    let prefer_new = m == LoadMode::PreferNew;
                    if prefer_new {
                        file.set_fields(&mut ns);
                        ns.updated_at = t;
                    }
                    file.merge_into(&mut ns, prefer_new, t);
                    (Loaded::Merged, Expect::Revision(s.revision), ns)
                }
            };
            let mut ops = vec![docs::put(name, expect, &ns)?];
            ops.extend(store::resource_type_ops(&self.meta, &types, true).await?);
            if let Written::Applied(_) = docs::write(&self.meta, ops).await? {
                tracing::info!(namespace = name, ?loaded, "metadef file loaded");
                return Ok(loaded);
            }
        }
        Err(DomainError::Conflict(format!(
            "Namespace {name} is changing too often; retry."
        )))
    }

    /// Every namespace as Glance's export writes it (admin only).
    pub async fn export_metadefs(&self, who: &Caller) -> Result<Vec<MetadefFile>, DomainError> {
        require_admin(self, who, "export_metadefs")?;
        Ok(store::all(&self.meta)
            .await?
            .iter()
            .map(MetadefFile::of)
            .collect())
    }

    /// Deletes every namespace and resource type, protected or not (admin only); returns
    /// how many namespaces went.
    pub async fn unload_metadefs(&self, who: &Caller) -> Result<usize, DomainError> {
        require_admin(self, who, "unload_metadefs")?;
        for _ in 0..MAX_CAS_ATTEMPTS {
            let namespaces = docs::list::<Namespace>(&self.meta, "").await?;
            let types = docs::list::<ResourceType>(&self.meta, "").await?;
            let mut ops: Vec<_> = namespaces
                .iter()
                .map(|s| docs::remove::<Namespace>(&s.id, Expect::Revision(s.revision)))
                .collect();
            ops.extend(
                types
                    .iter()
                    .map(|s| docs::remove::<ResourceType>(&s.id, Expect::Revision(s.revision))),
            );
            if ops.is_empty() {
                return Ok(0);
            }
            if let Written::Applied(_) = docs::write(&self.meta, ops).await? {
                tracing::info!(namespaces = namespaces.len(), "metadefs unloaded");
                return Ok(namespaces.len());
            }
        }
        Err(DomainError::Conflict(
            "Metadefs are changing too often; retry.".into(),
        ))
    }
}
