//! Resource types (`OS::Glance::Image`, `OS::Nova::Flavor`, ...) and namespaces'
//! associations with them. A resource type is created on its first association, as Glance
//! does, and outlives it.

use super::model::{Association, ResourceType};
use super::namespaces::NewAssociation;
use super::store::{self, Change};
use crate::caller::Caller;
use crate::docs;
use crate::error::DomainError;
use crate::service::Glance;
use crate::write::now;

pub(crate) fn duplicate_association(namespace: &str, name: &str) -> DomainError {
    DomainError::Conflict(format!(
        "The metadata definition resource-type association of resource-type={name} to \
         namespace={namespace} already exists."
    ))
}

pub(crate) fn no_association(namespace: &str, name: &str) -> DomainError {
    DomainError::NotFound(format!(
        "The metadata definition resource-type association of resource-type={name} to \
         namespace={namespace}, was not found."
    ))
}

impl Glance {
    /// Every resource type, oldest first.
    pub async fn list_resource_types(
        &self,
        who: &Caller,
    ) -> Result<Vec<ResourceType>, DomainError> {
        self.metadef_access(who)
            .require("list_metadef_resource_types")?;
        let mut all: Vec<ResourceType> = docs::list::<ResourceType>(&self.meta, "")
            .await?
            .into_iter()
            .map(|s| s.value)
            .collect();
        all.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.name.cmp(&b.name)));
        Ok(all)
    }

    /// The resource types `ns` is associated with.
    pub async fn associations(
        &self,
        who: &Caller,
        ns: &str,
    ) -> Result<Vec<Association>, DomainError> {
        let n = store::load(&self.meta, ns).await?.value;
        self.metadef_access(who)
            .check(&n, "list_metadef_resource_types")?;
        Ok(n.associations)
    }

    /// Associates `ns` with a resource type, creating the type if it is new (409 if already
    /// associated).
    pub async fn associate(
        &self,
        who: &Caller,
        ns: &str,
        new: NewAssociation,
    ) -> Result<Association, DomainError> {
        let access = self.metadef_access(who);
        for _ in 0..store::RESOURCE_TYPE_ATTEMPTS {
            let types = store::resource_type_ops(&self.meta, &[new.name.as_str()], false).await?;
            let done = store::change_batch(&self.meta, ns, |n| {
                access.check(n, "add_metadef_resource_type_association")?;
                if n.associations.iter().any(|a| a.name == new.name) {
                    return Err(duplicate_association(ns, &new.name));
                }
                let t = now();
                let a = Association {
                    name: new.name.clone(),
                    prefix: new.prefix.clone(),
                    properties_target: new.properties_target.clone(),
                    created_at: t,
                    updated_at: t,
                };
                n.associations.push(a.clone());
                let mut change = Change::rewrite(a);
                change.also = types.clone();
                Ok(change)
            })
            .await?;
            // None: the resource type appeared (or went) meanwhile; read it again.
            if let Some(a) = done {
                return Ok(a);
            }
        }
        Err(DomainError::Conflict(format!(
            "Resource type {} is changing too often; retry.",
            new.name
        )))
    }

    /// Removes the association of `ns` with resource type `name` (403 when `ns` is
    /// protected).
    pub async fn dissociate(&self, who: &Caller, ns: &str, name: &str) -> Result<(), DomainError> {
        if docs::get::<ResourceType>(&self.meta, name).await?.is_none() {
            // Glance looks the namespace up first: an invisible one is still a 404 of its own.
            let n = store::load(&self.meta, ns).await?.value;
            self.metadef_access(who)
                .check(&n, "remove_metadef_resource_type_association")?;
            return Err(DomainError::NotFound(format!(
                "The metadata definition resource-type with name={name}, was not found."
            )));
        }
        let access = self.metadef_access(who);
        store::change(&self.meta, ns, |n| {
            access.check(n, "remove_metadef_resource_type_association")?;
            if !n.associations.iter().any(|a| a.name == name) {
                return Err(no_association(ns, name));
            }
            if n.protected {
                return Err(DomainError::Forbidden(format!(
                    "Metadata definition resource-type-association {name} is protected and \
                     cannot be deleted."
                )));
            }
            n.associations.retain(|a| a.name != name);
            Ok(Change::rewrite(()))
        })
        .await
    }
}
