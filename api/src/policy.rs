//! Glance's default RBAC (admin / project member / project reader / image member).
//!
//! An image the caller may not see is reported as missing (404), as Glance does; an image
//! the caller sees but may not change gives 403.

use crate::error::ApiError;
use crate::identity::Identity;
use tessera_raft::{Image, ListQuery};

/// Glance's refusal text for a policy rule.
fn refuse(action: &str) -> ApiError {
    ApiError::Forbidden(format!(
        "You are not authorized to complete {action} action."
    ))
}

/// Whether `who` owns `image` (its project is the owner).
pub fn owns(who: &Identity, image: &Image) -> bool {
    image.owner.as_deref() == Some(who.project.as_str())
}

/// `get_image`: the caller may read the record, else the image does not exist for them.
pub fn check_view(who: &Identity, image: &Image) -> Result<(), ApiError> {
    if who.is_reader() && ListQuery::can_view(&who.viewer(), image) {
        Ok(())
    } else {
        Err(ApiError::no_image(&image.id))
    }
}

/// `modify_image`, `delete_image`, `upload_image`, `add_member`, `delete_member`: admin, or
/// a member of the owning project.
pub fn check_owner_write(who: &Identity, image: &Image, action: &str) -> Result<(), ApiError> {
    check_view(who, image)?;
    if who.is_admin() || (who.is_member() && owns(who, image)) {
        Ok(())
    } else {
        Err(refuse(action))
    }
}

/// `get_images` and listing endpoints: any reader.
pub fn check_reader(who: &Identity, action: &str) -> Result<(), ApiError> {
    if who.is_reader() {
        Ok(())
    } else {
        Err(refuse(action))
    }
}

/// `add_image`: a project member creating for its own project (admins for any).
pub fn check_create(who: &Identity, owner: Option<&str>) -> Result<(), ApiError> {
    if who.is_admin() {
        return Ok(());
    }
    if !who.is_member() {
        return Err(refuse("add_image"));
    }
    match owner {
        Some(o) if o != who.project => Err(ApiError::Forbidden(
            "You are not permitted to create images owned by another project.".into(),
        )),
        _ => Ok(()),
    }
}

/// `publicize_image` (admin) and `communitize_image` (owner member).
pub fn check_visibility_change(who: &Identity, visibility: &str) -> Result<(), ApiError> {
    match visibility {
        "public" if !who.is_admin() => Err(refuse("publicize_image")),
        "community" if !who.is_member() => Err(refuse("communitize_image")),
        _ => Ok(()),
    }
}

/// `get_members`: the owner, or a project the image is shared with.
pub fn check_member_read(who: &Identity, image: &Image) -> Result<(), ApiError> {
    check_view(who, image)?;
    if who.is_admin() || owns(who, image) || image.members.contains_key(&who.project) {
        Ok(())
    } else {
        Err(refuse("get_members"))
    }
}

/// `modify_member`: only the member project itself answers a share.
pub fn check_member_answer(who: &Identity, image: &Image, member: &str) -> Result<(), ApiError> {
    check_view(who, image)?;
    if who.is_admin() || (who.is_member() && who.project == member) {
        Ok(())
    } else {
        Err(refuse("modify_member"))
    }
}
