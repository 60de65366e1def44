//! What a namespace holds: objects, properties and tags, each created, listed, shown,
//! replaced (renamed included), deleted one by one or all at once.

use super::model::{Namespace, Object, PropertyDef, Tag};
use super::namespaces::{protected, NewObject};
use super::page::Paging;
use super::store::{self, Change};
use crate::caller::Caller;
use crate::error::DomainError;
use crate::service::Glance;
use crate::write::now;

/// One kind of namespace content, for emptying it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contents {
    /// Every object.
    Objects,
    /// Every property.
    Properties,
    /// Every tag.
    Tags,
}

/// What a tag listing sorts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagSort {
    /// Creation time (Glance's default).
    CreatedAt,
    /// Last change.
    UpdatedAt,
    /// Name.
    Name,
}

impl TagSort {
    /// Parses Glance's `sort_key`.
    pub fn parse(key: &str) -> Option<Self> {
        match key {
            "created_at" => Some(Self::CreatedAt),
            "updated_at" => Some(Self::UpdatedAt),
            "name" => Some(Self::Name),
            _ => None,
        }
    }
}

/// `GET .../tags` parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagQuery {
    /// The last tag of the previous page.
    pub marker: Option<String>,
    /// Page size (none: all).
    pub limit: Option<usize>,
    /// Sort key.
    pub sort: TagSort,
    /// Descending order (Glance's default).
    pub descending: bool,
}

pub(crate) fn duplicate_object(namespace: &str, name: &str) -> DomainError {
    DomainError::Conflict(format!(
        "A metadata definition object with name={name} already exists in namespace={namespace}."
    ))
}

fn duplicate_property(namespace: &str, name: &str) -> DomainError {
    DomainError::Conflict(format!(
        "A metadata definition property with name={name} already exists in \
         namespace={namespace}."
    ))
}

fn duplicate_tag(namespace: &str, name: &str) -> DomainError {
    DomainError::Conflict(format!(
        "A metadata tag with name={name} already exists in namespace={namespace}. (Please \
         note that metadata tag names are case insensitive)."
    ))
}

fn no_object(namespace: &str, name: &str) -> DomainError {
    DomainError::NotFound(format!(
        "The metadata definition object with name={name} was not found in \
         namespace={namespace}."
    ))
}

pub(crate) fn no_property(namespace: &str, name: &str) -> DomainError {
    DomainError::NotFound(format!(
        "The metadata definition property with name={name} was not found in \
         namespace={namespace}."
    ))
}

fn no_tag(namespace: &str, name: &str) -> DomainError {
    DomainError::NotFound(format!(
        "The metadata definition tag with name={name} was not found in namespace={namespace}."
    ))
}

/// Adds tag `name` to `tags`, refusing one that exists regardless of case.
pub(crate) fn push_tag(
    namespace: &str,
    tags: &mut Vec<Tag>,
    name: &str,
    t: i64,
) -> Result<(), DomainError> {
    if tags
        .iter()
        .any(|x| x.name.to_lowercase() == name.to_lowercase())
    {
        return Err(duplicate_tag(namespace, name));
    }
    tags.push(Tag {
        name: name.to_string(),
        created_at: t,
        updated_at: t,
    });
    Ok(())
}

fn find_object<'a>(ns: &'a mut Namespace, name: &str) -> Result<&'a mut Object, DomainError> {
    let namespace = ns.namespace.clone();
    ns.objects
        .iter_mut()
        .find(|o| o.name == name)
        .ok_or_else(|| no_object(&namespace, name))
}

fn find_tag<'a>(ns: &'a mut Namespace, name: &str) -> Result<&'a mut Tag, DomainError> {
    let namespace = ns.namespace.clone();
    ns.tags
        .iter_mut()
        .find(|t| t.name == name)
        .ok_or_else(|| no_tag(&namespace, name))
}

impl Glance {
    /// A namespace the caller may read with `action`.
    async fn readable(
        &self,
        who: &Caller,
        ns: &str,
        action: &str,
    ) -> Result<Namespace, DomainError> {
        let ns = store::load(&self.meta, ns).await?.value;
        self.metadef_access(who).check(&ns, action)?;
        Ok(ns)
    }

    /// Changes namespace `ns` after checking `action` on it.
    async fn change_contents<T, F>(
        &self,
        who: &Caller,
        ns: &str,
        action: &str,
        mut f: F,
    ) -> Result<T, DomainError>
    where
        F: FnMut(&mut Namespace) -> Result<T, DomainError>,
    {
        let access = self.metadef_access(who);
        store::change(&self.meta, ns, |n| {
            access.check(n, action)?;
            Ok(Change::rewrite(f(n)?))
        })
        .await
    }

    /// Every object of `ns`.
    pub async fn list_objects(&self, who: &Caller, ns: &str) -> Result<Vec<Object>, DomainError> {
        Ok(self.readable(who, ns, "get_metadef_objects").await?.objects)
    }

    /// One object.
    pub async fn object(&self, who: &Caller, ns: &str, name: &str) -> Result<Object, DomainError> {
        let mut n = self.readable(who, ns, "get_metadef_object").await?;
        find_object(&mut n, name).cloned()
    }

    /// Adds an object (409 if the name is taken).
    pub async fn create_object(
        &self,
        who: &Caller,
        ns: &str,
        new: NewObject,
    ) -> Result<Object, DomainError> {
        self.change_contents(who, ns, "add_metadef_object", |n| {
            if n.objects.iter().any(|o| o.name == new.name) {
                return Err(duplicate_object(ns, &new.name));
            }
            let t = now();
            let o = Object {
                name: new.name.clone(),
                description: new.description.clone(),
                required: new.required.clone(),
                properties: new.properties.clone(),
                created_at: t,
                updated_at: t,
            };
            n.objects.push(o.clone());
            Ok(o)
        })
        .await
    }

    /// Replaces object `name` (renaming it when `new.name` differs).
    pub async fn update_object(
        &self,
        who: &Caller,
        ns: &str,
        name: &str,
        new: NewObject,
    ) -> Result<Object, DomainError> {
        self.change_contents(who, ns, "modify_metadef_object", |n| {
            if new.name != name && n.objects.iter().any(|o| o.name == new.name) {
                return Err(duplicate_object(ns, &new.name));
            }
            let o = find_object(n, name)?;
            o.name = new.name.clone();
            o.description = new.description.clone();
            o.required = new.required.clone();
            o.properties = new.properties.clone();
            o.updated_at = now();
            Ok(o.clone())
        })
        .await
    }

    /// Deletes object `name` (403 in a protected namespace).
    pub async fn delete_object(
        &self,
        who: &Caller,
        ns: &str,
        name: &str,
    ) -> Result<(), DomainError> {
        self.change_contents(who, ns, "delete_metadef_object", |n| {
            find_object(n, name)?;
            if n.protected {
                return Err(DomainError::Forbidden(format!(
                    "Metadata definition object {name} is protected and cannot be deleted."
                )));
            }
            n.objects.retain(|o| o.name != name);
            Ok(())
        })
        .await
    }

    /// Every property of `ns`.
    pub async fn list_properties(
        &self,
        who: &Caller,
        ns: &str,
    ) -> Result<Vec<(String, PropertyDef)>, DomainError> {
        let n = self.readable(who, ns, "get_metadef_properties").await?;
        Ok(n.properties.into_iter().collect())
    }

    /// One property and its name; with `resource_type`, `name` carries that association's
    /// prefix, which is stripped (404 if it does not start with it).
    pub async fn property(
        &self,
        who: &Caller,
        ns: &str,
        name: &str,
        resource_type: Option<&str>,
    ) -> Result<(String, PropertyDef), DomainError> {
        let n = self.readable(who, ns, "get_metadef_property").await?;
        let mut key = name;
        if let Some(rt) = resource_type {
            self.metadef_access(who)
                .check(&n, "get_metadef_resource_type")?;
            let assoc = n
                .associations
                .iter()
                .find(|a| a.name == rt)
                .ok_or_else(|| super::resource_types::no_association(ns, rt))?;
            let prefix = assoc.prefix.clone().unwrap_or_default();
            key = match name.strip_prefix(prefix.as_str()) {
                Some(rest) if !prefix.is_empty() => rest,
                _ => {
                    return Err(DomainError::NotFound(format!(
                        "Property {name} does not start with the expected resource type \
                         association prefix of '{prefix}'."
                    )))
                }
            };
        }
        n.properties
            .get(key)
            .map(|def| (key.to_string(), def.clone()))
            .ok_or_else(|| no_property(ns, key))
    }

    /// Adds property `name` (409 if taken).
    pub async fn create_property(
        &self,
        who: &Caller,
        ns: &str,
        name: &str,
        def: PropertyDef,
    ) -> Result<PropertyDef, DomainError> {
        self.change_contents(who, ns, "add_metadef_property", |n| {
            if n.properties.contains_key(name) {
                return Err(duplicate_property(ns, name));
            }
            n.properties.insert(name.to_string(), def.clone());
            Ok(def.clone())
        })
        .await
    }

    /// Replaces property `name`, renaming it to `new_name`.
    pub async fn update_property(
        &self,
        who: &Caller,
        ns: &str,
        name: &str,
        new_name: &str,
        def: PropertyDef,
    ) -> Result<PropertyDef, DomainError> {
        self.change_contents(who, ns, "modify_metadef_property", |n| {
            if !n.properties.contains_key(name) {
                return Err(no_property(ns, name));
            }
            if new_name != name && n.properties.contains_key(new_name) {
                return Err(duplicate_property(ns, new_name));
            }
            n.properties.remove(name);
            n.properties.insert(new_name.to_string(), def.clone());
            Ok(def.clone())
        })
        .await
    }

    /// Deletes property `name` (403 in a protected namespace).
    pub async fn delete_property(
        &self,
        who: &Caller,
        ns: &str,
        name: &str,
    ) -> Result<(), DomainError> {
        self.change_contents(who, ns, "remove_metadef_property", |n| {
            if !n.properties.contains_key(name) {
                return Err(no_property(ns, name));
            }
            if n.protected {
                return Err(DomainError::Forbidden(format!(
                    "Metadata definition property {name} is protected and cannot be deleted."
                )));
            }
            n.properties.remove(name);
            Ok(())
        })
        .await
    }

    /// The tags of `ns`, sorted and paged as Glance does (ties in creation order).
    pub async fn list_tags(
        &self,
        who: &Caller,
        ns: &str,
        q: &TagQuery,
    ) -> Result<Vec<Tag>, DomainError> {
        let n = self.readable(who, ns, "get_metadef_tags").await?;
        let tags: Vec<(usize, Tag)> = n.tags.into_iter().enumerate().collect();
        let order = |(i, a): &(usize, Tag), (j, b): &(usize, Tag)| {
            let primary = match q.sort {
                TagSort::CreatedAt => a.created_at.cmp(&b.created_at),
                TagSort::UpdatedAt => a.updated_at.cmp(&b.updated_at),
                TagSort::Name => a.name.cmp(&b.name),
            };
            primary.then(a.created_at.cmp(&b.created_at)).then(i.cmp(j))
        };
        let paging = Paging {
            order: &order,
            descending: q.descending,
            marker: q.marker.as_deref(),
            name: &|(_, t): &(usize, Tag)| t.name.as_str(),
            limit: q.limit.unwrap_or(usize::MAX),
        };
        Ok(paging
            .apply(tags, |m| no_tag(ns, m))?
            .into_iter()
            .map(|(_, t)| t)
            .collect())
    }

    /// One tag.
    pub async fn tag(&self, who: &Caller, ns: &str, name: &str) -> Result<Tag, DomainError> {
        let mut n = self.readable(who, ns, "get_metadef_tag").await?;
        find_tag(&mut n, name).cloned()
    }

    /// Adds tag `name` (409 if it exists, regardless of case).
    pub async fn create_tag(&self, who: &Caller, ns: &str, name: &str) -> Result<Tag, DomainError> {
        self.change_contents(who, ns, "add_metadef_tag", |n| {
            let t = now();
            push_tag(ns, &mut n.tags, name, t)?;
            Ok(Tag {
                name: name.to_string(),
                created_at: t,
                updated_at: t,
            })
        })
        .await
    }

    /// Adds several tags at once; without `append` they replace every existing tag. All or
    /// nothing: a duplicate refuses the whole list (409).
    pub async fn create_tags(
        &self,
        who: &Caller,
        ns: &str,
        names: &[String],
        append: bool,
    ) -> Result<Vec<Tag>, DomainError> {
        self.change_contents(who, ns, "add_metadef_tags", |n| {
            let mut tags = if append { n.tags.clone() } else { Vec::new() };
            let t = now();
            for name in names {
                push_tag(ns, &mut tags, name, t)?;
            }
            n.tags = tags;
            Ok(n.tags[n.tags.len() - names.len()..].to_vec())
        })
        .await
    }

    /// Renames tag `name` to `new_name`.
    pub async fn update_tag(
        &self,
        who: &Caller,
        ns: &str,
        name: &str,
        new_name: &str,
    ) -> Result<Tag, DomainError> {
        self.change_contents(who, ns, "modify_metadef_tag", |n| {
            let clash = n
                .tags
                .iter()
                .any(|t| t.name != name && t.name.to_lowercase() == new_name.to_lowercase());
            let tag = find_tag(n, name)?;
            if clash {
                return Err(duplicate_tag(ns, new_name));
            }
            tag.name = new_name.to_string();
            tag.updated_at = now();
            Ok(tag.clone())
        })
        .await
    }

    /// Deletes tag `name` (403 in a protected namespace).
    pub async fn delete_tag(&self, who: &Caller, ns: &str, name: &str) -> Result<(), DomainError> {
        self.change_contents(who, ns, "delete_metadef_tag", |n| {
            find_tag(n, name)?;
            if n.protected {
                return Err(DomainError::Forbidden(format!(
                    "Metadata definition tag {name} is protected and cannot be deleted."
                )));
            }
            n.tags.retain(|t| t.name != name);
            Ok(())
        })
        .await
    }

    /// Empties one kind of content of `ns` (Glance checks `delete_metadef_namespace`, and
    /// `delete_metadef_tags` for tags; a protected namespace refuses).
    pub async fn delete_contents(
        &self,
        who: &Caller,
        ns: &str,
        what: Contents,
    ) -> Result<(), DomainError> {
        let access = self.metadef_access(who);
        store::change(&self.meta, ns, |n| {
            access.check(n, "delete_metadef_namespace")?;
            if what == Contents::Tags {
                access.check(n, "delete_metadef_tags")?;
            }
            protected(n)?;
            match what {
                Contents::Objects => n.objects.clear(),
                Contents::Properties => n.properties.clear(),
                Contents::Tags => n.tags.clear(),
            }
            Ok(Change::rewrite(()))
        })
        .await
    }
}
