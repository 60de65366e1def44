//! The metadef records as they are stored: one document per namespace, holding its objects,
//! properties, tags and resource-type associations, and one document per resource type.
//!
//! A namespace and everything under it is small (Glance's largest shipped file is a few
//! tens of KiB) and always changes together under Glance's rules (cascade delete, rename,
//! protection), so keeping it in one document makes every rule one compare-and-set, with no
//! orphaned children and no cross-document uniqueness to police.

use crate::docs::DocKind;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Who may see a namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    /// Every project.
    Public,
    /// The owning project (and admins).
    Private,
}

impl Visibility {
    /// Glance's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Private => "private",
        }
    }

    /// Parses Glance's spelling.
    pub fn parse(s: &str) -> Option<Visibility> {
        match s {
            "public" => Some(Visibility::Public),
            "private" => Some(Visibility::Private),
            _ => None,
        }
    }
}

/// A property definition: a JSON-schema fragment restricted to the keys Glance keeps.
pub type PropertyDef = Map<String, Value>;

/// A metadef object: a named group of property definitions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Object {
    /// Unique in its namespace.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Names of the properties an instance must set.
    pub required: Option<Vec<String>>,
    /// The object's property definitions, by name.
    pub properties: Option<BTreeMap<String, PropertyDef>>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

/// A metadef tag (names are unique regardless of case).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    /// The tag.
    pub name: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

/// A namespace's association with a resource type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Association {
    /// The resource type's name.
    pub name: String,
    /// Prefix the resource type's properties carry (e.g. `hw_`).
    pub prefix: Option<String>,
    /// Which part of the resource the properties apply to (e.g. `image`).
    pub properties_target: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

/// A metadef namespace and its contents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Namespace {
    /// Unique name; the document id.
    pub namespace: String,
    /// Name for user interfaces.
    pub display_name: Option<String>,
    /// Free text.
    pub description: Option<String>,
    /// Who may see it.
    pub visibility: Visibility,
    /// A protected namespace and its contents cannot be deleted.
    pub protected: bool,
    /// The owning project.
    pub owner: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
    /// Property definitions, by name.
    pub properties: BTreeMap<String, PropertyDef>,
    /// Objects, in creation order.
    pub objects: Vec<Object>,
    /// Tags, in creation order.
    pub tags: Vec<Tag>,
    /// Resource-type associations, in creation order.
    pub associations: Vec<Association>,
}

impl DocKind for Namespace {
    const KIND: &'static str = "metadef_namespace";
}

/// A resource type namespaces can be associated with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceType {
    /// Unique name; the document id.
    pub name: String,
    /// Seeded by Glance's schema migration.
    pub protected: bool,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

impl DocKind for ResourceType {
    const KIND: &'static str = "metadef_resource_type";
}
