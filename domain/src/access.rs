//! Glance's default RBAC (admin / project member / project reader / image member) and the
//! visibility and ownership rules of a change.
//!
//! An image the caller may not see is reported as missing (404), as Glance does; an image
//! the caller sees but may not change gives 403.

use crate::caller::Caller;
use crate::error::DomainError;
use tessera_raft::{Image, ListQuery};

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

/// `get_image`: the caller may read the record, else the image does not exist for them.
pub fn check_view(who: &Caller, image: &Image) -> Result<(), DomainError> {
    if who.is_reader() && ListQuery::can_view(&who.viewer(), image) {
        Ok(())
    } else {
        Err(DomainError::no_image(&image.id))
    }
}

/// `modify_image`, `delete_image`, `upload_image`, `add_member`, `delete_member`: admin, or
/// a member of the owning project.
pub fn check_owner_write(who: &Caller, image: &Image, action: &str) -> Result<(), DomainError> {
    check_view(who, image)?;
    if who.is_admin() || (who.is_member() && owns(who, image)) {
        Ok(())
    } else {
        Err(refuse(action))
    }
}

/// `get_images` and listing endpoints: any reader.
pub fn check_reader(who: &Caller, action: &str) -> Result<(), DomainError> {
    if who.is_reader() {
        Ok(())
    } else {
        Err(refuse(action))
    }
}

/// `add_image`: a project member creating for its own project (admins for any).
pub fn check_create(who: &Caller, owner: Option<&str>) -> Result<(), DomainError> {
    if who.is_admin() {
        return Ok(());
    }
    if !who.is_member() {
        return Err(refuse("add_image"));
    }
    match owner {
        Some(o) if o != who.project => Err(DomainError::Forbidden(
            "You are not permitted to create images owned by another project.".into(),
        )),
        _ => Ok(()),
    }
}

/// `publicize_image` (admin) and `communitize_image` (owner member).
pub fn check_visibility_change(who: &Caller, visibility: &str) -> Result<(), DomainError> {
    match visibility {
        "public" if !who.is_admin() => Err(refuse("publicize_image")),
        "community" if !who.is_member() => Err(refuse("communitize_image")),
        _ => Ok(()),
    }
}

/// What a change of `before` into `after` needs beyond `modify_image`: only an admin gives
/// an image away, and a visibility change needs its own rule.
pub fn check_changes(who: &Caller, before: &Image, after: &Image) -> Result<(), DomainError> {
    if after.owner != before.owner && !who.is_admin() {
        return Err(DomainError::Forbidden(
            "Owner can't be updated by non admin.".into(),
        ));
    }
    if after.visibility != before.visibility {
        check_visibility_change(who, after.visibility.as_str())?;
    }
    Ok(())
}

/// `get_members`: the owner, or a project the image is shared with.
pub fn check_member_read(who: &Caller, image: &Image) -> Result<(), DomainError> {
    check_view(who, image)?;
    if who.is_admin() || owns(who, image) || image.members.contains_key(&who.project) {
        Ok(())
    } else {
        Err(refuse("get_members"))
    }
}

/// `modify_member`: only the member project itself answers a share.
pub fn check_member_answer(who: &Caller, image: &Image, member: &str) -> Result<(), DomainError> {
    check_view(who, image)?;
    if who.is_admin() || (who.is_member() && who.project == member) {
        Ok(())
    } else {
        Err(refuse("modify_member"))
    }
}

/// Image data of a deactivated image is for admins only.
pub fn check_download(who: &Caller, image: &Image) -> Result<(), DomainError> {
    check_view(who, image)?;
    if image.status == tessera_raft::ImageStatus::Deactivated && !who.is_admin() {
        return Err(DomainError::Forbidden(
            "The requested image has been deactivated. Image data download is forbidden.".into(),
        ));
    }
    Ok(())
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
                let r = check_view(&who, &image(vis));
                assert_eq!(r.is_ok(), sees, "{} on {vis:?}", who.project);
                if !sees {
                    assert!(is_404(r), "hidden means missing");
                }
            }
        }
    }

    #[test]
    fn who_changes_an_image() {
        let public = image(Visibility::Public);
        assert!(check_owner_write(&admin(), &public, "modify_image").is_ok());
        assert!(check_owner_write(&member(), &public, "modify_image").is_ok());
        let refused = check_owner_write(&reader(), &public, "modify_image");
        assert_eq!(
            refused.unwrap_err().to_string(),
            "You are not authorized to complete modify_image action."
        );
        assert!(is_403(check_owner_write(&other(), &public, "delete_image")));
        let shared = image(Visibility::Shared);
        assert!(is_403(check_owner_write(
            &sharee(),
            &shared,
            "upload_image"
        )));
        assert!(is_404(check_owner_write(&other(), &shared, "modify_image")));
    }

    #[test]
    fn who_creates_and_publishes() {
        assert!(check_create(&admin(), Some("anyone")).is_ok());
        assert!(check_create(&member(), None).is_ok());
        assert!(check_create(&member(), Some("own")).is_ok());
        assert!(is_403(check_create(&member(), Some("else"))));
        assert!(is_403(check_create(&reader(), None)));
        assert!(check_visibility_change(&admin(), "public").is_ok());
        assert!(is_403(check_visibility_change(&member(), "public")));
        assert!(check_visibility_change(&member(), "community").is_ok());
        assert!(is_403(check_visibility_change(&reader(), "community")));
        assert!(check_visibility_change(&reader(), "private").is_ok());
        assert!(check_reader(&reader(), "get_images").is_ok());
        assert!(is_403(check_reader(&nobody(), "get_images")));
    }

    #[test]
    fn owner_and_visibility_changes() {
        let before = image(Visibility::Private);
        let mut given = before.clone();
        given.owner = Some("else".into());
        assert!(is_403(check_changes(&member(), &before, &given)));
        assert!(check_changes(&admin(), &before, &given).is_ok());
        let mut public = before.clone();
        public.visibility = Visibility::Public;
        assert!(is_403(check_changes(&member(), &before, &public)));
        let mut renamed = before.clone();
        renamed.name = Some("n".into());
        assert!(check_changes(&reader(), &before, &renamed).is_ok());
    }

    #[test]
    fn who_reads_and_answers_members() {
        let shared = image(Visibility::Shared);
        assert!(check_member_read(&member(), &shared).is_ok());
        assert!(check_member_read(&sharee(), &shared).is_ok());
        assert!(check_member_read(&admin(), &shared).is_ok());
        assert!(is_404(check_member_read(&other(), &shared)));
        let public = image(Visibility::Public);
        assert!(is_403(check_member_read(&other(), &public)));
        assert!(check_member_answer(&sharee(), &shared, "guest").is_ok());
        assert!(is_403(check_member_answer(&member(), &shared, "guest")));
        assert!(check_member_answer(&admin(), &shared, "guest").is_ok());
        let guest_reader = caller("guest", &["reader"]);
        assert!(is_403(check_member_answer(&guest_reader, &shared, "guest")));
    }

    #[test]
    fn deactivated_data_is_for_admins() {
        let mut img = image(Visibility::Public);
        img.status = tessera_raft::ImageStatus::Deactivated;
        assert!(check_download(&admin(), &img).is_ok());
        assert!(is_403(check_download(&member(), &img)));
        img.status = tessera_raft::ImageStatus::Active;
        assert!(check_download(&other(), &img).is_ok());
    }
}
