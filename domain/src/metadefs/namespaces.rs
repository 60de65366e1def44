//! Namespaces: create (with contents), list (filters, sort, marker), show, update (rename
//! included), delete (cascading to everything in it), and emptying one kind of content.

use super::access::no_namespace;
use super::model::{Association, Namespace, Object, PropertyDef, Tag, Visibility};
use super::page::Paging;
use super::store::{self, Change};
use crate::caller::Caller;
use crate::docs;
use crate::error::DomainError;
use crate::service::Glance;
use crate::write::now;
use std::collections::BTreeMap;
use tessera_raft::Expect;

/// A namespace's own fields, as a create or an update gives them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NamespaceFields {
    /// The (new) name.
    pub namespace: String,
    /// Name for user interfaces.
    pub display_name: Option<String>,
    /// Free text.
    pub description: Option<String>,
    /// Private when not given.
    pub visibility: Option<Visibility>,
    /// False when not given.
    pub protected: Option<bool>,
    /// The caller's project when not given.
    pub owner: Option<String>,
}

/// An object as a request gives it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewObject {
    /// Unique in the namespace.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Properties an instance must set.
    pub required: Option<Vec<String>>,
    /// Property definitions.
    pub properties: Option<BTreeMap<String, PropertyDef>>,
}

/// A resource-type association as a request gives it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewAssociation {
    /// The resource type (created if unknown, as Glance does).
    pub name: String,
    /// Prefix of the resource type's properties.
    pub prefix: Option<String>,
    /// Part of the resource the properties apply to.
    pub properties_target: Option<String>,
}

/// A namespace to create, with its initial contents.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewNamespace {
    /// Its fields.
    pub fields: NamespaceFields,
    /// Property definitions.
    pub properties: BTreeMap<String, PropertyDef>,
    /// Objects.
    pub objects: Vec<NewObject>,
    /// Tag names.
    pub tags: Vec<String>,
    /// Resource-type associations.
    pub associations: Vec<NewAssociation>,
}

/// What a namespace listing sorts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamespaceSort {
    /// Creation time (Glance's default).
    CreatedAt,
    /// Last change.
    UpdatedAt,
    /// Name.
    Namespace,
    /// Display name.
    DisplayName,
}

impl NamespaceSort {
    /// Parses Glance's `sort_key`.
    pub fn parse(key: &str) -> Option<Self> {
        match key {
            "created_at" => Some(Self::CreatedAt),
            "updated_at" => Some(Self::UpdatedAt),
            "namespace" => Some(Self::Namespace),
            "display_name" => Some(Self::DisplayName),
            _ => None,
        }
    }
}

/// `GET /v2/metadefs/namespaces` parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceQuery {
    /// The last namespace of the previous page.
    pub marker: Option<String>,
    /// Page size.
    pub limit: usize,
    /// Sort key (then creation time and name, as Glance's tie-breakers).
    pub sort: NamespaceSort,
    /// Descending order.
    pub descending: bool,
    /// Only namespaces of this visibility.
    pub visibility: Option<Visibility>,
    /// Only namespaces associated with one of these resource types (none: all).
    pub resource_types: Vec<String>,
}

/// A page of namespaces.
#[derive(Debug, Clone, PartialEq)]
pub struct NamespacePage {
    /// The namespaces.
    pub namespaces: Vec<Namespace>,
    /// The marker of the next page, when this one is full.
    pub next: Option<String>,
}

/// Glance's refusal to delete (or empty) a protected namespace.
pub(crate) fn protected(ns: &Namespace) -> Result<(), DomainError> {
    if ns.protected {
        Err(DomainError::Forbidden(format!(
            "Metadata definition namespace {} is protected and cannot be deleted.",
            ns.namespace
        )))
    } else {
        Ok(())
    }
}

/// Builds the stored objects of a create, refusing duplicate names.
pub(crate) fn objects_of(
    namespace: &str,
    objects: &[NewObject],
    t: i64,
) -> Result<Vec<Object>, DomainError> {
    let mut out: Vec<Object> = Vec::new();
    for o in objects {
        if out.iter().any(|x| x.name == o.name) {
            return Err(super::contents::duplicate_object(namespace, &o.name));
        }
        out.push(Object {
            name: o.name.clone(),
            description: o.description.clone(),
            required: o.required.clone(),
            properties: o.properties.clone(),
            created_at: t,
            updated_at: t,
        });
    }
    Ok(out)
}

/// Builds the stored tags of a create, refusing duplicates (regardless of case).
pub(crate) fn tags_of(namespace: &str, names: &[String], t: i64) -> Result<Vec<Tag>, DomainError> {
    let mut out: Vec<Tag> = Vec::new();
    for name in names {
        super::contents::push_tag(namespace, &mut out, name, t)?;
    }
    Ok(out)
}

/// Builds the stored associations of a create, refusing a resource type named twice.
pub(crate) fn associations_of(
    namespace: &str,
    list: &[NewAssociation],
    t: i64,
) -> Result<Vec<Association>, DomainError> {
    let mut out: Vec<Association> = Vec::new();
    for a in list {
        if out.iter().any(|x| x.name == a.name) {
            return Err(super::resource_types::duplicate_association(
                namespace, &a.name,
            ));
        }
        out.push(Association {
            name: a.name.clone(),
            prefix: a.prefix.clone(),
            properties_target: a.properties_target.clone(),
            created_at: t,
            updated_at: t,
        });
    }
    Ok(out)
}

fn duplicate_namespace(name: &str) -> DomainError {
    DomainError::Conflict(format!(
        "The metadata definition namespace={name} already exists."
    ))
}

fn compare(a: &Namespace, b: &Namespace, sort: NamespaceSort) -> std::cmp::Ordering {
    let primary = match sort {
        NamespaceSort::CreatedAt => a.created_at.cmp(&b.created_at),
        NamespaceSort::UpdatedAt => a.updated_at.cmp(&b.updated_at),
        NamespaceSort::Namespace => a.namespace.cmp(&b.namespace),
        NamespaceSort::DisplayName => a.display_name.cmp(&b.display_name),
    };
    primary
        .then(a.created_at.cmp(&b.created_at))
        .then(a.namespace.cmp(&b.namespace))
}

impl Glance {
    /// Creates a namespace with its contents in one write (409 if the name is taken).
    pub async fn create_namespace(
        &self,
        who: &Caller,
        new: NewNamespace,
    ) -> Result<Namespace, DomainError> {
        let access = self.metadef_access(who);
        access.require("add_metadef_namespace")?;
        for (present, action) in [
            (
                !new.associations.is_empty(),
                "add_metadef_resource_type_association",
            ),
            (!new.objects.is_empty(), "add_metadef_object"),
            (!new.properties.is_empty(), "add_metadef_property"),
            (!new.tags.is_empty(), "add_metadef_tag"),
        ] {
            if present {
                access.require(action)?;
            }
        }
        let f = new.fields;
        let name = f.namespace.clone();
        let t = now();
        let ns = Namespace {
            display_name: f.display_name,
            description: f.description,
            visibility: f.visibility.unwrap_or(Visibility::Private),
            protected: f.protected.unwrap_or(false),
            owner: Some(f.owner.unwrap_or_else(|| access.project().to_string())),
            created_at: t,
            updated_at: t,
            properties: new.properties,
            objects: objects_of(&name, &new.objects, t)?,
            tags: tags_of(&name, &new.tags, t)?,
            associations: associations_of(&name, &new.associations, t)?,
            namespace: name.clone(),
        };
        let types: Vec<&str> = ns.associations.iter().map(|a| a.name.as_str()).collect();
        for _ in 0..store::RESOURCE_TYPE_ATTEMPTS {
            let mut ops = vec![docs::put(&name, Expect::Absent, &ns)?];
            ops.extend(store::resource_type_ops(&self.meta, &types, false).await?);
            match docs::write(&self.meta, ops).await? {
                docs::Written::Applied(_) => {
                    tracing::info!(namespace = %name, "metadef namespace created");
                    return Ok(ns);
                }
                docs::Written::Conflict(c) if c.index == 0 => {
                    return Err(duplicate_namespace(&name))
                }
                // A resource type appeared (or went) meanwhile: read them again.
                docs::Written::Conflict(_) => {}
            }
        }
        Err(DomainError::Conflict(format!(
            "The resource types of namespace {name} are changing too often; retry."
        )))
    }

    /// The namespaces the caller sees, filtered, sorted and paged as Glance does.
    pub async fn list_namespaces(
        &self,
        who: &Caller,
        q: &NamespaceQuery,
    ) -> Result<NamespacePage, DomainError> {
        let access = self.metadef_access(who);
        access.require("get_metadef_namespaces")?;
        access.require("list_metadef_resource_types")?;
        let all: Vec<Namespace> = store::all(&self.meta)
            .await?
            .into_iter()
            .filter(|ns| access.can_view(ns))
            .filter(|ns| q.visibility.is_none_or(|v| ns.visibility == v))
            .filter(|ns| {
                q.resource_types.is_empty()
                    || ns
                        .associations
                        .iter()
                        .any(|a| q.resource_types.contains(&a.name))
            })
            .collect();
        let paging = Paging {
            order: &|a, b| compare(a, b, q.sort),
            descending: q.descending,
            marker: q.marker.as_deref(),
            name: &|ns: &Namespace| ns.namespace.as_str(),
            limit: q.limit,
        };
        let namespaces = paging.apply(all, no_namespace)?;
        let next = (q.limit > 0 && namespaces.len() == q.limit)
            .then(|| namespaces.last().map(|n| n.namespace.clone()))
            .flatten();
        Ok(NamespacePage { namespaces, next })
    }

    /// One namespace with its contents (404 if the caller may not see it).
    pub async fn namespace(&self, who: &Caller, name: &str) -> Result<Namespace, DomainError> {
        let ns = store::load(&self.meta, name).await?.value;
        let access = self.metadef_access(who);
        access.check(&ns, "get_metadef_namespace")?;
        for action in [
            "list_metadef_resource_types",
            "get_metadef_objects",
            "get_metadef_properties",
            "get_metadef_tags",
        ] {
            access.check(&ns, action)?;
        }
        Ok(ns)
    }

    /// Replaces a namespace's fields (Glance's PUT: what the body leaves out is reset), and
    /// renames it when the body names another namespace.
    pub async fn update_namespace(
        &self,
        who: &Caller,
        name: &str,
        f: NamespaceFields,
    ) -> Result<Namespace, DomainError> {
        if f.namespace != name
            && docs::get::<Namespace>(&self.meta, &f.namespace)
                .await?
                .is_some()
        {
            return Err(DomainError::Conflict(format!(
                "Invalid update. It would result in a duplicate metadata definition namespace \
                 with the same name of {}",
                f.namespace
            )));
        }
        let access = self.metadef_access(who);
        store::change(&self.meta, name, |ns| {
            access.check(ns, "modify_metadef_namespace")?;
            ns.namespace = f.namespace.clone();
            ns.display_name = f.display_name.clone();
            ns.description = f.description.clone();
            ns.visibility = f.visibility.unwrap_or(Visibility::Private);
            ns.protected = f.protected.unwrap_or(false);
            ns.owner = Some(
                f.owner
                    .clone()
                    .unwrap_or_else(|| access.project().to_string()),
            );
            ns.updated_at = now();
            let mut change = Change::rewrite(ns.clone());
            if ns.namespace != name {
                change
                    .also
                    .push(docs::put(&ns.namespace, Expect::Absent, &*ns)?);
            }
            Ok(change)
        })
        .await
    }

    /// Deletes a namespace and everything in it (403 when protected).
    pub async fn delete_namespace(&self, who: &Caller, name: &str) -> Result<(), DomainError> {
        let access = self.metadef_access(who);
        store::change(&self.meta, name, |ns| {
            access.check(ns, "delete_metadef_namespace")?;
            protected(ns)?;
            Ok(Change {
                result: (),
                also: Vec::new(),
                remove: true,
            })
        })
        .await?;
        tracing::info!(namespace = name, "metadef namespace deleted");
        Ok(())
    }
}
