//! Glance's default rules (2025, `enforce_new_defaults` and scope enforcement on): the
//! secure-RBAC personas project admin, member and reader. The check strings are Glance's,
//! word for word, so an operator's policy file reads the same here as there.

/// `role:member and project_id:%(project_id)s`
const PROJECT_MEMBER: &str = "role:member and project_id:%(project_id)s";
/// A member of the owning project, or admin.
const ADMIN_OR_PROJECT_MEMBER: &str = "role:admin or (role:member and project_id:%(project_id)s)";
/// A reader of the owning project, or admin.
const ADMIN_OR_PROJECT_READER: &str = "role:admin or (role:reader and project_id:%(project_id)s)";

/// Glance's metadef admin persona (`base.ADMIN`).
const METADEF_ADMIN: &str = "rule:metadef_admin";
/// Glance's `ADMIN_OR_PROJECT_READER_GET_NAMESPACE`: admin, or a reader of the owning project
/// or of any project for a public namespace.
const READ_NAMESPACE: &str =
    "rule:context_is_admin or (role:reader and (project_id:%(project_id)s or 'public':%(visibility)s))";

/// Every default rule, by name.
pub const DEFAULTS: &[(&str, &str)] = &[
    // Used for a policy the set does not name.
    ("default", ""),
    ("context_is_admin", "role:admin"),
    // Glance's persona rules, for operators' files to refer to.
    ("admin", "role:admin"),
    // Tessera's own admin API: cluster, chunks, workers, metrics.
    ("tessera:admin", "role:admin"),
    ("project_member", PROJECT_MEMBER),
    (
        "project_reader",
        "role:reader and project_id:%(project_id)s",
    ),
    ("admin_or_project_member", ADMIN_OR_PROJECT_MEMBER),
    ("admin_or_project_reader", ADMIN_OR_PROJECT_READER),
    // Images.
    (
        "add_image",
        "role:admin or (role:member and project_id:%(project_id)s and project_id:%(owner)s)",
    ),
    ("delete_image", ADMIN_OR_PROJECT_MEMBER),
    (
        "get_image",
        "role:admin or (role:reader and (project_id:%(project_id)s or \
         project_id:%(member_id)s or \"community\":%(visibility)s or \
         \"public\":%(visibility)s or \"shared\":%(visibility)s))",
    ),
    ("get_images", ADMIN_OR_PROJECT_READER),
    ("modify_image", ADMIN_OR_PROJECT_MEMBER),
    ("publicize_image", "role:admin"),
    ("communitize_image", ADMIN_OR_PROJECT_MEMBER),
    (
        "download_image",
        "role:admin or (role:member and (project_id:%(project_id)s or \
         project_id:%(member_id)s or \"community\":%(visibility)s or \
         \"public\":%(visibility)s or \"shared\":%(visibility)s))",
    ),
    ("upload_image", ADMIN_OR_PROJECT_MEMBER),
    ("delete_image_location", "role:admin"),
    ("get_image_location", ADMIN_OR_PROJECT_READER),
    ("set_image_location", ADMIN_OR_PROJECT_MEMBER),
    // The locations API (2.17): services (Nova, Cinder) by the `service` role; Glance's
    // `service_api` still lets admin in (until 2026.2, as Glance says).
    ("service_api", "role:service or role:admin"),
    (
        "add_image_location",
        "rule:service_api or (role:member and project_id:%(project_id)s and project_id:%(owner)s)",
    ),
    ("fetch_image_location", "rule:service_api"),
    ("deactivate", ADMIN_OR_PROJECT_MEMBER),
    ("reactivate", ADMIN_OR_PROJECT_MEMBER),
    ("copy_image", "role:admin"),
    ("stores_info_detail", "role:admin"),
    ("manage_image_cache", "role:admin"),
    // The image cache API (2.14): admin by default, as in Glance, where `manage_image_cache`
    // is their deprecated alias; naming it keeps an operator's override of it in force.
    ("cache_image", "rule:manage_image_cache"),
    ("cache_list", "rule:manage_image_cache"),
    ("cache_delete", "rule:manage_image_cache"),
    // Image members.
    ("add_member", ADMIN_OR_PROJECT_MEMBER),
    ("delete_member", ADMIN_OR_PROJECT_MEMBER),
    (
        "get_member",
        "role:admin or role:reader and (project_id:%(project_id)s or project_id:%(member_id)s)",
    ),
    (
        "get_members",
        "role:admin or role:reader and (project_id:%(project_id)s or project_id:%(member_id)s)",
    ),
    (
        "modify_member",
        "role:admin or (role:member and project_id:%(member_id)s)",
    ),
    // Tasks.
    ("get_task", "rule:default"),
    ("get_tasks", "rule:default"),
    ("add_task", "rule:default"),
    ("modify_task", "rule:default"),
    ("tasks_api_access", "role:admin"),
    // Metadata definitions (Glance's `policies/metadef.py`).
    ("metadef_default", ""),
    ("metadef_admin", "rule:context_is_admin"),
    ("get_metadef_namespace", READ_NAMESPACE),
    (
        "get_metadef_namespaces",
        "rule:context_is_admin or (role:reader and project_id:%(project_id)s)",
    ),
    ("modify_metadef_namespace", METADEF_ADMIN),
    ("add_metadef_namespace", METADEF_ADMIN),
    ("delete_metadef_namespace", METADEF_ADMIN),
    ("get_metadef_object", READ_NAMESPACE),
    ("get_metadef_objects", READ_NAMESPACE),
    ("modify_metadef_object", METADEF_ADMIN),
    ("add_metadef_object", METADEF_ADMIN),
    ("delete_metadef_object", METADEF_ADMIN),
    ("list_metadef_resource_types", READ_NAMESPACE),
    ("get_metadef_resource_type", READ_NAMESPACE),
    ("add_metadef_resource_type_association", METADEF_ADMIN),
    ("remove_metadef_resource_type_association", METADEF_ADMIN),
    ("get_metadef_property", READ_NAMESPACE),
    ("get_metadef_properties", READ_NAMESPACE),
    ("modify_metadef_property", METADEF_ADMIN),
    ("add_metadef_property", METADEF_ADMIN),
    ("remove_metadef_property", METADEF_ADMIN),
    ("get_metadef_tag", READ_NAMESPACE),
    ("get_metadef_tags", READ_NAMESPACE),
    ("modify_metadef_tag", METADEF_ADMIN),
    ("add_metadef_tag", METADEF_ADMIN),
    ("add_metadef_tags", METADEF_ADMIN),
    ("delete_metadef_tag", METADEF_ADMIN),
    ("delete_metadef_tags", METADEF_ADMIN),
];
