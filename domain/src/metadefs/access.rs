//! Who may see and change a namespace: Glance's visibility rule (admins see all; others see
//! public namespaces, unowned ones and their own project's), then the metadef policy named
//! for the action, with the namespace's owner as `project_id` and its `visibility`.
//!
//! A namespace the caller may not see is missing for them (404, never 403); one they see but
//! may not change is 403 with Glance's text.

use super::model::{Namespace, Visibility};
use crate::access::{refuse, Access};
use crate::caller::Caller;
use crate::error::DomainError;
use crate::policy::Target;
use crate::service::Glance;

/// One caller's metadef checks.
pub(crate) struct MetadefAccess<'a> {
    access: Access<'a>,
    who: &'a Caller,
}

/// Glance's 404 for a namespace that does not exist or that the caller may not see.
pub(crate) fn no_namespace(name: &str) -> DomainError {
    DomainError::NotFound(format!(
        "Metadata definition namespace={name} was not found."
    ))
}

impl Glance {
    /// The metadef checks of `who`.
    pub(crate) fn metadef_access<'a>(&'a self, who: &'a Caller) -> MetadefAccess<'a> {
        MetadefAccess {
            access: self.access(who),
            who,
        }
    }
}

impl MetadefAccess<'_> {
    /// Whether the caller is an admin (`context_is_admin`).
    pub(crate) fn is_admin(&self) -> bool {
        self.access.is_admin()
    }

    /// The caller's project (the owner of what it creates).
    pub(crate) fn project(&self) -> &str {
        &self.who.project
    }

    fn target(ns: &Namespace) -> Target {
        Target::from([
            ("project_id", ns.owner.clone().unwrap_or_default()),
            ("visibility", ns.visibility.as_str().to_string()),
        ])
    }

    /// Glance's database visibility rule, without policy.
    fn sees(&self, ns: &Namespace) -> bool {
        self.is_admin()
            || ns.visibility == Visibility::Public
            || ns.owner.as_deref().is_none_or(|o| o == self.who.project)
    }

    /// Whether the caller may see `ns` (listing keeps only these).
    pub(crate) fn can_view(&self, ns: &Namespace) -> bool {
        self.sees(ns)
            && self
                .access
                .allows("get_metadef_namespace", &Self::target(ns))
    }

    /// `get_metadef_namespace`, then `action` on the namespace: 404 if it is not visible,
    /// 403 if `action` is refused.
    pub(crate) fn check(&self, ns: &Namespace, action: &str) -> Result<(), DomainError> {
        if !self.can_view(ns) {
            return Err(no_namespace(&ns.namespace));
        }
        if self.access.allows(action, &Self::target(ns)) {
            Ok(())
        } else {
            Err(refuse(action))
        }
    }

    /// A rule about no namespace in particular (listing, creating), on the caller's project.
    pub(crate) fn require(&self, action: &str) -> Result<(), DomainError> {
        let target = Target::from([("project_id", self.who.project.clone())]);
        if self.access.allows(action, &target) {
            Ok(())
        } else {
            Err(refuse(action))
        }
    }
}
