//! The metadata definitions catalog (metadefs): namespaces of property definitions,
//! objects and tags, associated with resource types, that tells Horizon and Nova which image
//! and flavor properties exist and what values they take.
//!
//! One document per namespace holds it and its contents ([`model`]); every change is a
//! compare-and-set on it ([`store`]), checked by Glance's visibility rule and metadef
//! policies ([`access`]). Glance's metadef files load, export and unload through [`files`].

pub(crate) mod access;
pub mod contents;
pub mod files;
pub mod model;
pub mod namespaces;
mod page;
pub mod property;
pub mod resource_types;
pub(crate) mod store;

pub use contents::{Contents, TagQuery, TagSort};
pub use files::{LoadMode, Loaded, MetadefFile};
pub use model::{Association, Namespace, Object, PropertyDef, ResourceType, Tag, Visibility};
pub use namespaces::{
    NamespaceFields, NamespacePage, NamespaceQuery, NamespaceSort, NewAssociation, NewNamespace,
    NewObject,
};
