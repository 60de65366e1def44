//! Image members: sharing an image with other projects, which accept or reject the share.

use crate::access;
use crate::caller::Caller;
use crate::error::DomainError;
use crate::service::Glance;
use crate::write::{self, now};
use tessera_raft::{Image, Member, MemberStatus, Visibility};

fn no_member(id: &str, member: &str) -> DomainError {
    DomainError::NotFound(format!("{member} is not a member of image {id}"))
}

/// Members a caller may see: all for the owner and admins, only itself for a member.
fn visible<'a>(
    who: &'a Caller,
    admin: bool,
    img: &'a Image,
) -> impl Iterator<Item = (&'a String, &'a Member)> {
    let all = admin || access::owns(who, img);
    img.members
        .iter()
        .filter(move |(p, _)| all || **p == who.project)
}

/// The entry of `member` in a stored record.
fn entry(img: &Image, member: &str) -> Result<Member, DomainError> {
    img.members
        .get(member)
        .cloned()
        .ok_or_else(|| no_member(&img.id, member))
}

impl Glance {
    /// The members of `id` the caller may see, by project.
    pub async fn members(
        &self,
        who: &Caller,
        id: &str,
    ) -> Result<Vec<(String, Member)>, DomainError> {
        let img = write::load(&self.meta, id).await?;
        let access = self.access(who);
        access.check_member_read(&img, "get_members")?;
        Ok(visible(who, access.is_admin(), &img)
            .map(|(p, m)| (p.clone(), m.clone()))
            .collect())
    }

    /// One member of `id`, if the caller may see it.
    pub async fn member(
        &self,
        who: &Caller,
        id: &str,
        member: &str,
    ) -> Result<Member, DomainError> {
        let img = write::load(&self.meta, id).await?;
        let access = self.access(who);
        access.check_member_read(&img, "get_member")?;
        let found = visible(who, access.is_admin(), &img)
            .find(|(p, _)| *p == member)
            .map(|(_, m)| m.clone());
        found.ok_or_else(|| no_member(id, member))
    }

    /// Shares `id` (a `shared` image) with project `member`, pending its answer, within the
    /// member quota (counted first, as Glance does).
    pub async fn add_member(
        &self,
        who: &Caller,
        id: &str,
        member: &str,
    ) -> Result<Member, DomainError> {
        let stamp = now();
        let img = write::modify(&self.meta, id, |img| {
            self.access(who).check_owner_write(img, "add_member")?;
            self.settings
                .quotas
                .check_new_member(img)
                .map_err(|e| DomainError::image_limit(id, e))?;
            if img.visibility != Visibility::Shared {
                return Err(DomainError::Forbidden(format!(
                    "Not allowed to create members for image {id}."
                )));
            }
            if img.members.contains_key(member) {
                return Err(DomainError::Conflict(format!(
                    "Member {member} already associated with image {id}."
                )));
            }
            img.members.insert(
                member.to_string(),
                Member {
                    status: MemberStatus::Pending,
                    created_at: stamp,
                    updated_at: stamp,
                },
            );
            Ok(())
        })
        .await?;
        entry(&img, member)
    }

    /// The member project's answer to a share.
    pub async fn answer_member(
        &self,
        who: &Caller,
        id: &str,
        member: &str,
        status: MemberStatus,
    ) -> Result<Member, DomainError> {
        let stamp = now();
        let img = write::modify(&self.meta, id, |img| {
            self.access(who).check_member_answer(img, member)?;
            let m = img
                .members
                .get_mut(member)
                .ok_or_else(|| no_member(id, member))?;
            if m.status != status {
                m.status = status;
                m.updated_at = stamp;
            }
            Ok::<_, DomainError>(())
        })
        .await?;
        entry(&img, member)
    }

    /// Stops sharing `id` with `member`.
    pub async fn remove_member(
        &self,
        who: &Caller,
        id: &str,
        member: &str,
    ) -> Result<(), DomainError> {
        write::modify(&self.meta, id, |img| {
            self.access(who).check_owner_write(img, "delete_member")?;
            img.members
                .remove(member)
                .map(|_| ())
                .ok_or_else(|| no_member(id, member))
        })
        .await?;
        Ok(())
    }
}
