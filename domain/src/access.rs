//! Who may see and change what: each check asks the [`Policy`] in force (Glance's default
//! rules, or an operator's file over them) under Glance's policy name, with the target
//! Glance passes (the image's owner as `project_id` and `owner`, its `visibility`, the
//! caller's `member_id` and `member_status` when the image is shared with it).
//!
//! Every Glance image policy is for project-scoped tokens (`scope_types=['project']` with
//! scope enforcement on): a system- or domain-scoped token passes none of them.
//!
//! Which images a caller can see at all (`ListQuery::can_view`, which listing uses too)
//! comes first: an image the caller may not see is reported as missing (404), as Glance
//! does; an image the caller sees but may not change gives 403 with Glance's text.

use crate::caller::{Caller, Scope};
use crate::error::DomainError;
use crate::policy::{Credentials, Policy, Target};
use crate::service::Glance;
use tessera_raft::{Image, ImageStatus, ListQuery, Viewer};

/// Glance's refusal text for a policy rule.
pub fn refuse(action: &str) -> DomainError {
    DomainError::Forbidden(format!(
        "You are not authorized to complete {action} action."
    ))
}

/// Whether `who` owns `image` (its project is the owner).
pub fn owns(who: &Caller, image: &Image) -> bool {
    image.owner.as_deref() == Some(who.project.as_str())
}

/// What a policy rule knows of `who`: the roles Keystone's default role inference implies
/// too (admin implies member, member implies reader), and `is_admin` from
/// `context_is_admin`, as Glance's request context has it.
pub(crate) fn credentials(policy: &Policy, who: &Caller) -> Credentials {
    let mut roles = who.roles.clone();
    for (role, implied) in [("admin", "member"), ("member", "reader")] {
        if roles.iter().any(|r| r == role) && !roles.iter().any(|r| r == implied) {
            roles.push(implied.to_string());
        }
    }
    let (system_scope, domain_id) = match &who.scope {
        Scope::Project => (None, None),
        Scope::Domain(domain) => (None, Some(domain.clone())),
        Scope::System(system) => (Some(system.clone()), None),
    };
    let mut creds = Credentials {
        user_id: who.user.clone(),
        project_id: who.project.clone(),
        roles,
        is_admin: false,
        system_scope,
        domain_id,
    };
    creds.is_admin = policy.allows("context_is_admin", &creds, &Target::new());
    creds
}

/// The target of a rule about an image owned by `owner`.
fn owned_by(owner: &str) -> Target {
    Target::from([
        ("project_id", owner.to_string()),
        ("owner", owner.to_string()),
    ])
}

/// One caller's checks under the policy in force.
pub struct Access<'a> {
    policy: &'a Policy,
    who: &'a Caller,
    creds: Credentials,
}

impl Glance {
    /// The access checks of `who` under this service's policy.
    pub fn access<'a>(&'a self, who: &'a Caller) -> Access<'a> {
        Access::new(&self.policy, who)
    }
}

impl<'a> Access<'a> {
    /// The checks of `who` under `policy`.
    pub fn new(policy: &'a Policy, who: &'a Caller) -> Self {
        Access {
            policy,
            who,
            creds: credentials(policy, who),
        }
    }

    /// Whether the caller, project-scoped, passes policy `name` on `target`.
    pub(crate) fn allows(&self, name: &str, target: &Target) -> bool {
        self.who.scope == Scope::Project && self.policy.allows(name, &self.creds, target)
    }

    fn require(&self, name: &str, target: &Target) -> Result<(), DomainError> {
        if self.allows(name, target) {
            Ok(())
        } else {
            Err(refuse(name))
        }
    }

    /// Tessera's own admin API (`/tessera/v1/*`, `/metrics`): policy `tessera:admin`
    /// (default `role:admin`), with a project- or system-scoped token.
    pub fn check_tessera_admin(&self, action: &str) -> Result<(), DomainError> {
        let scoped = matches!(self.who.scope, Scope::Project | Scope::System(_));
        if scoped
            && self
                .policy
                .allows("tessera:admin", &self.creds, &Target::new())
        {
            Ok(())
        } else {
            Err(refuse(action))
        }
    }

    /// Whether the caller passes `context_is_admin` (Glance's `context.is_admin`).
    pub fn is_admin(&self) -> bool {
        self.creds.is_admin
    }

    /// The metadata layer's view of this caller: admins see every image.
    pub fn viewer(&self) -> Viewer {
        Viewer {
            project: Some(self.who.project.clone()),
            admin: self.creds.is_admin,
        }
    }

    /// The target Glance builds for `image` and this caller.
    pub(crate) fn image_target(&self, image: &Image) -> Target {
        let mut target = image.owner.as_deref().map(owned_by).unwrap_or_default();
        target.insert("image_id", image.id.clone());
        target.insert("visibility", image.visibility.as_str().to_string());
        if let Some(m) = image.members.get(&self.who.project) {
            target.insert("member_id", self.who.project.clone());
            target.insert("member_status", m.status.as_str().to_string());
        }
        target
    }

    /// `get_image`: the caller may read the record, else the image does not exist for them
    /// (a token of another scope included: Glance turns that refusal into 404 too, as
    /// glance-tempest-plugin checks).
    pub fn check_view(&self, image: &Image) -> Result<(), DomainError> {
        if ListQuery::can_view(&self.viewer(), image)
            && self.allows("get_image", &self.image_target(image))
        {
            Ok(())
        } else {
            Err(DomainError::no_image(&image.id))
        }
    }

    /// `modify_image`, `delete_image`, `upload_image`, `add_member`, `delete_member`,
    /// `deactivate`, `reactivate`: by default admin, or a member of the owning project.
    pub fn check_owner_write(&self, image: &Image, action: &str) -> Result<(), DomainError> {
        self.check_view(image)?;
        self.require(action, &self.image_target(image))
    }

    /// Glance's policy `name` on `image` (`get_image_location`, `delete_image_location`...),
    /// for a caller who may see it.
    pub fn check_policy(&self, image: &Image, name: &str) -> Result<(), DomainError> {
        self.require(name, &self.image_target(image))
    }

    /// `get_images` and listing endpoints: by default any reader of the caller's project.
    pub fn check_reader(&self, action: &str) -> Result<(), DomainError> {
        self.require(action, &owned_by(&self.who.project))
    }

    /// `add_image` of an image owned by `owner` (the caller's project when `None`).
    pub fn check_create(&self, owner: Option<&str>) -> Result<(), DomainError> {
        let own = self.who.project.as_str();
        if self.allows("add_image", &owned_by(owner.unwrap_or(own))) {
            return Ok(());
        }
        if owner.is_some_and(|o| o != own) && self.allows("add_image", &owned_by(own)) {
            return Err(DomainError::Forbidden(
                "You are not permitted to create images owned by another project.".into(),
            ));
        }
        Err(refuse("add_image"))
    }

    /// `publicize_image` and `communitize_image` for an image of `owner` (the caller's
    /// project when `None`) made `visibility`.
    pub fn check_visibility(
        &self,
        owner: Option<&str>,
        visibility: &str,
    ) -> Result<(), DomainError> {
        let target = owned_by(owner.unwrap_or(&self.who.project));
        match visibility {
            "public" => self.require("publicize_image", &target),
            "community" => self.require("communitize_image", &target),
            _ => Ok(()),
        }
    }

    /// What a change of `before` into `after` needs beyond `modify_image`: only an admin
    /// gives an image away, and a visibility change needs its own rule.
    pub fn check_changes(&self, before: &Image, after: &Image) -> Result<(), DomainError> {
        if after.owner != before.owner && !self.creds.is_admin {
            return Err(DomainError::Forbidden(
                "Owner can't be updated by non admin.".into(),
            ));
        }
        if after.visibility != before.visibility {
            self.check_visibility(after.owner.as_deref(), after.visibility.as_str())?;
        }
        Ok(())
    }

    /// `get_members` / `get_member`: by default the owner's readers, or a project the image
    /// is shared with.
    pub fn check_member_read(&self, image: &Image, action: &str) -> Result<(), DomainError> {
        self.check_view(image)?;
        self.require(action, &self.image_target(image))
    }

    /// `modify_member`: by default only the member project itself answers a share.
    pub fn check_member_answer(&self, image: &Image, member: &str) -> Result<(), DomainError> {
        self.check_view(image)?;
        let mut target = self.image_target(image);
        target.insert("member_id", member.to_string());
        self.require("modify_member", &target)
    }

    /// `download_image`; image data of a deactivated image is for admins only.
    pub fn check_download(&self, image: &Image) -> Result<(), DomainError> {
        self.check_view(image)?;
        self.require("download_image", &self.image_target(image))?;
        if image.status == ImageStatus::Deactivated && !self.creds.is_admin {
            return Err(DomainError::Forbidden(
                "The requested image has been deactivated. Image data download is forbidden."
                    .into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_raft::{Member, MemberStatus, Visibility};

    fn caller(project: &str, roles: &[&str]) -> Caller {
        Caller {
            user: format!("{project}-user"),
            project: project.into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            scope: Scope::Project,
        }
    }

    fn admin() -> Caller {
        caller("ops", &["admin", "member", "reader"])
    }
    fn member() -> Caller {
        caller("own", &["member", "reader"])
    }
    fn reader() -> Caller {
        caller("own", &["reader"])
    }
    fn other() -> Caller {
        caller("else", &["member", "reader"])
    }
    fn sharee() -> Caller {
        caller("guest", &["member", "reader"])
    }
    fn nobody() -> Caller {
        caller("own", &[])
    }

    /// An image of project `own` with `visibility`, shared with `guest` when shared.
    fn image(visibility: Visibility) -> Image {
        let mut img = Image::new("img".into(), Some("own".into()), 0);
        img.visibility = visibility;
        if visibility == Visibility::Shared {
            img.members.insert(
                "guest".into(),
                Member {
                    status: MemberStatus::Pending,
                    created_at: 0,
                    updated_at: 0,
                },
            );
        }
        img
    }

    /// The checks of `who` under Glance's defaults.
    fn check<T>(who: &Caller, f: impl FnOnce(&Access<'_>) -> T) -> T {
        let policy = Policy::default();
        f(&Access::new(&policy, who))
    }

    fn is_404(r: Result<(), DomainError>) -> bool {
        matches!(r, Err(DomainError::NotFound(_)))
    }
    fn is_403(r: Result<(), DomainError>) -> bool {
        matches!(r, Err(DomainError::Forbidden(_)))
    }

    #[test]
    fn who_sees_an_image() {
        use Visibility::*;
        // (caller, [private, shared, public, community])
        let table = [
            (admin(), [true, true, true, true]),
            (member(), [true, true, true, true]),
            (reader(), [true, true, true, true]),
            (other(), [false, false, true, true]),
            (sharee(), [false, true, true, true]),
            (nobody(), [false, false, false, false]),
        ];
        for (who, seen) in table {
            for (vis, sees) in [Private, Shared, Public, Community].into_iter().zip(seen) {
                let r = check(&who, |a| a.check_view(&image(vis)));
                assert_eq!(r.is_ok(), sees, "{} on {vis:?}", who.project);
                if !sees {
                    assert!(is_404(r), "hidden means missing");
                }
            }
        }
    }

    /// The persona matrix of the defaults: each owner-write policy on a shared image of
    /// `own`, as the hard-coded rules answered before the policy engine.
    #[test]
    fn who_changes_an_image() {
        let shared = image(Visibility::Shared);
        let writes = [
            "modify_image",
            "delete_image",
            "upload_image",
            "add_member",
            "delete_member",
            "deactivate",
            "reactivate",
        ];
        // (caller, allowed, refusal when not: 403 or 404)
        let table = [
            (admin(), true, 0),
            (member(), true, 0),
            (reader(), false, 403),
            (other(), false, 404),
            (sharee(), false, 403),
            (nobody(), false, 404),
        ];
        for (who, allowed, status) in table {
            for action in writes {
                let r = check(&who, |a| a.check_owner_write(&shared, action));
                let what = format!("{} {:?} {action}", who.project, who.roles);
                assert_eq!(r.is_ok(), allowed, "{what}");
                match status {
                    403 => assert_eq!(
                        r.unwrap_err().to_string(),
                        format!("You are not authorized to complete {action} action."),
                        "{what}"
                    ),
                    404 => assert!(is_404(r), "{what}"),
                    _ => {}
                }
            }
        }
        let public = image(Visibility::Public);
        assert!(is_403(
            check(&other(), |a| a.check_owner_write(&public, "delete_image"))
        ));
    }

    #[test]
    fn who_creates_and_publishes() {
        assert!(check(&admin(), |a| a.check_create(Some("anyone"))).is_ok());
        assert!(check(&member(), |a| a.check_create(None)).is_ok());
        assert!(check(&member(), |a| a.check_create(Some("own"))).is_ok());
        let r = check(&member(), |a| a.check_create(Some("else")));
        assert_eq!(
            r.unwrap_err().to_string(),
            "You are not permitted to create images owned by another project."
        );
        let r = check(&reader(), |a| a.check_create(None));
        assert_eq!(
            r.unwrap_err().to_string(),
            "You are not authorized to complete add_image action."
        );
        assert!(is_403(check(&reader(), |a| a.check_create(Some("else")))));
        assert!(check(&admin(), |a| a.check_visibility(None, "public")).is_ok());
        assert!(is_403(
            check(&member(), |a| a.check_visibility(None, "public"))
        ));
        assert!(check(&member(), |a| a.check_visibility(None, "community")).is_ok());
        assert!(is_403(
            check(&reader(), |a| a.check_visibility(None, "community"))
        ));
        assert!(check(&reader(), |a| a.check_visibility(None, "private")).is_ok());
        assert!(check(&reader(), |a| a.check_reader("get_images")).is_ok());
        assert!(is_403(check(&nobody(), |a| a.check_reader("get_images"))));
    }

    #[test]
    fn owner_and_visibility_changes() {
        let before = image(Visibility::Private);
        let mut given = before.clone();
        given.owner = Some("else".into());
        assert!(is_403(
            check(&member(), |a| a.check_changes(&before, &given))
        ));
        assert!(check(&admin(), |a| a.check_changes(&before, &given)).is_ok());
        let mut public = before.clone();
        public.visibility = Visibility::Public;
        assert!(is_403(
            check(&member(), |a| a.check_changes(&before, &public))
        ));
        let mut community = before.clone();
        community.visibility = Visibility::Community;
        assert!(check(&member(), |a| a.check_changes(&before, &community)).is_ok());
        let mut renamed = before.clone();
        renamed.name = Some("n".into());
        assert!(check(&reader(), |a| a.check_changes(&before, &renamed)).is_ok());
    }

    #[test]
    fn who_reads_and_answers_members() {
        let shared = image(Visibility::Shared);
        for action in ["get_members", "get_member"] {
            assert!(check(&member(), |a| a.check_member_read(&shared, action)).is_ok());
            assert!(check(&reader(), |a| a.check_member_read(&shared, action)).is_ok());
            assert!(check(&sharee(), |a| a.check_member_read(&shared, action)).is_ok());
            assert!(check(&admin(), |a| a.check_member_read(&shared, action)).is_ok());
            assert!(is_404(
                check(&other(), |a| a.check_member_read(&shared, action))
            ));
            let public = image(Visibility::Public);
            assert!(is_403(
                check(&other(), |a| a.check_member_read(&public, action))
            ));
        }
        assert!(check(&sharee(), |a| a.check_member_answer(&shared, "guest")).is_ok());
        assert!(is_403(
            check(&member(), |a| a.check_member_answer(&shared, "guest"))
        ));
        assert!(check(&admin(), |a| a.check_member_answer(&shared, "guest")).is_ok());
        let guest_reader = caller("guest", &["reader"]);
        assert!(is_403(
            check(&guest_reader, |a| a.check_member_answer(&shared, "guest"))
        ));
    }

    #[test]
    fn implied_roles_count() {
        // A token naming only `admin` (or `member`) holds the roles Keystone implies.
        let shared = image(Visibility::Shared);
        let bare_admin = caller("ops", &["admin"]);
        assert!(check(&bare_admin, |a| a
            .check_owner_write(&shared, "modify_image"))
        .is_ok());
        let bare_member = caller("own", &["member"]);
        assert!(check(&bare_member, |a| a.check_view(&shared)).is_ok());
    }

    #[test]
    fn only_project_scoped_tokens_pass_image_policies() {
        let public = image(Visibility::Public);
        for scope in [Scope::System("all".into()), Scope::Domain("default".into())] {
            let who = Caller {
                scope,
                project: String::new(),
                ..admin()
            };
            assert!(is_403(check(&who, |a| a.check_create(None))));
            assert!(is_403(check(&who, |a| a.check_reader("get_images"))));
            assert!(is_404(check(&who, |a| a.check_view(&public))));
            // Tessera's admin API takes system admins, not domain ones.
            let admin_api = check(&who, |a| a.check_tessera_admin("workers_list"));
            assert_eq!(admin_api.is_ok(), matches!(who.scope, Scope::System(_)));
        }
    }

    #[test]
    fn downloads() {
        let mut img = image(Visibility::Public);
        img.status = ImageStatus::Deactivated;
        assert!(check(&admin(), |a| a.check_download(&img)).is_ok());
        assert!(is_403(check(&member(), |a| a.check_download(&img))));
        img.status = ImageStatus::Active;
        assert!(check(&other(), |a| a.check_download(&img)).is_ok());
        // Glance's default: data is for members, not readers.
        assert_eq!(
            check(&reader(), |a| a.check_download(&img))
                .unwrap_err()
                .to_string(),
            "You are not authorized to complete download_image action."
        );
    }

    #[test]
    fn an_operator_rule_replaces_a_default() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policy.yaml");
        std::fs::write(&path, "add_image: role:admin\nget_image: '!'\n").unwrap();
        let policy = Policy::from_file(&path, crate::policy::RELOAD_CHECK).unwrap();
        let member = member();
        let a = Access::new(&policy, &member);
        assert!(is_403(a.check_create(None)));
        assert!(is_404(a.check_view(&image(Visibility::Private))));
        let admin = admin();
        assert!(Access::new(&policy, &admin).check_create(None).is_ok());

        // Who is admin (lists every image, gives images away) is `context_is_admin`.
        std::fs::write(&path, "context_is_admin: role:boss\n").unwrap();
        let policy = Policy::from_file(&path, crate::policy::RELOAD_CHECK).unwrap();
        let boss = caller("own", &["boss", "member"]);
        let before = image(Visibility::Private);
        let mut given = before.clone();
        given.owner = Some("else".into());
        assert!(Access::new(&policy, &boss).is_admin());
        assert!(Access::new(&policy, &boss).viewer().admin);
        assert!(Access::new(&policy, &boss)
            .check_changes(&before, &given)
            .is_ok());
        assert!(!Access::new(&policy, &admin).is_admin());
        assert!(is_403(
            Access::new(&policy, &admin).check_changes(&before, &given)
        ));
    }
}
