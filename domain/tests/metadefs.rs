//! The metadef rules over a real single-node `Meta`: visibility and policy, protection,
//! racing writers on one namespace (none lost), a resource type created once by racing
//! associations, renames onto taken names, and the file loader's modes.

#![allow(clippy::unwrap_used)]

mod common;

use common::{caller, node};
use serde_json::json;
use tessera_domain::metadefs::{
    Contents, LoadMode, Loaded, MetadefFile, NamespaceFields, NamespaceQuery, NamespaceSort,
    NewAssociation, NewNamespace, TagQuery, TagSort, Visibility,
};
use tessera_domain::{Caller, DomainError, Scope};

fn admin() -> Caller {
    caller("adminproj", &["admin", "member", "reader"])
}

fn alice() -> Caller {
    caller("projA", &["member", "reader"])
}

fn fields(name: &str, visibility: Visibility, protected: bool) -> NamespaceFields {
    NamespaceFields {
        namespace: name.into(),
        visibility: Some(visibility),
        protected: Some(protected),
        ..NamespaceFields::default()
    }
}

fn new(name: &str, visibility: Visibility, protected: bool) -> NewNamespace {
    NewNamespace {
        fields: fields(name, visibility, protected),
        ..NewNamespace::default()
    }
}

fn all_tags() -> TagQuery {
    TagQuery {
        marker: None,
        limit: None,
        sort: TagSort::Name,
        descending: false,
    }
}

#[tokio::test]
async fn private_namespaces_are_missing_for_other_projects_and_only_admins_write() {
    let n = node().await;
    let g = &n.glance;
    g.create_namespace(&admin(), new("priv", Visibility::Private, false))
        .await
        .unwrap();
    g.create_namespace(&admin(), new("pub", Visibility::Public, false))
        .await
        .unwrap();
    assert!(matches!(
        g.namespace(&alice(), "priv").await,
        Err(DomainError::NotFound(_))
    ));
    assert!(matches!(
        g.create_tag(&alice(), "priv", "t").await,
        Err(DomainError::NotFound(_))
    ));
    assert_eq!(g.namespace(&alice(), "pub").await.unwrap().namespace, "pub");
    assert!(matches!(
        g.create_tag(&alice(), "pub", "t").await,
        Err(DomainError::Forbidden(_))
    ));
    assert!(matches!(
        g.create_namespace(&alice(), new("mine", Visibility::Public, false))
            .await,
        Err(DomainError::Forbidden(_))
    ));
    let q = NamespaceQuery {
        marker: None,
        limit: 25,
        sort: NamespaceSort::Namespace,
        descending: false,
        visibility: None,
        resource_types: Vec::new(),
    };
    let seen: Vec<String> = g
        .list_namespaces(&alice(), &q)
        .await
        .unwrap()
        .namespaces
        .into_iter()
        .map(|ns| ns.namespace)
        .collect();
    assert_eq!(seen, ["pub"]);
    // Glance's metadef policies are project-scoped: a system-scoped admin passes none.
    let system = Caller {
        scope: Scope::System("all".into()),
        ..admin()
    };
    assert!(matches!(
        g.list_namespaces(&system, &q).await,
        Err(DomainError::Forbidden(_))
    ));
}

#[tokio::test]
async fn protected_namespaces_refuse_every_delete_until_unprotected() {
    let n = node().await;
    let g = &n.glance;
    let mut ns = new("prot", Visibility::Public, true);
    ns.tags = vec!["t".into()];
    ns.properties.insert(
        "p".into(),
        json!({"title": "P", "type": "string"})
            .as_object()
            .unwrap()
            .clone(),
    );
    g.create_namespace(&admin(), ns).await.unwrap();
    for refused in [
        g.delete_namespace(&admin(), "prot").await,
        g.delete_tag(&admin(), "prot", "t").await,
        g.delete_property(&admin(), "prot", "p").await,
        g.delete_contents(&admin(), "prot", Contents::Tags).await,
    ] {
        assert!(
            matches!(refused, Err(DomainError::Forbidden(_))),
            "{refused:?}"
        );
    }
    assert_eq!(
        g.list_tags(&admin(), "prot", &all_tags())
            .await
            .unwrap()
            .len(),
        1
    );
    g.update_namespace(&admin(), "prot", fields("prot", Visibility::Public, false))
        .await
        .unwrap();
    g.delete_namespace(&admin(), "prot").await.unwrap();
    assert!(matches!(
        g.namespace(&admin(), "prot").await,
        Err(DomainError::NotFound(_))
    ));
}

#[tokio::test]
async fn racing_writers_on_one_namespace_lose_nothing() {
    let n = node().await;
    let g = n.glance.clone();
    g.create_namespace(&admin(), new("race", Visibility::Public, false))
        .await
        .unwrap();
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let g = g.clone();
            tokio::spawn(async move { g.create_tag(&admin(), "race", &format!("t{i:02}")).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(
        g.list_tags(&admin(), "race", &all_tags())
            .await
            .unwrap()
            .len(),
        16
    );
    // Racing associations with one new resource type create it once, both associated.
    g.create_namespace(&admin(), new("race2", Visibility::Public, false))
        .await
        .unwrap();
    let assoc = |ns: &'static str| {
        let g = g.clone();
        tokio::spawn(async move {
            let a = NewAssociation {
                name: "New::Type".into(),
                ..NewAssociation::default()
            };
            g.associate(&admin(), ns, a).await
        })
    };
    let (a, b) = (assoc("race"), assoc("race2"));
    a.await.unwrap().unwrap();
    b.await.unwrap().unwrap();
    let types = g.list_resource_types(&admin()).await.unwrap();
    assert_eq!(types.iter().filter(|t| t.name == "New::Type").count(), 1);
}

#[tokio::test]
async fn a_rename_onto_a_taken_name_changes_nothing() {
    let n = node().await;
    let g = &n.glance;
    g.create_namespace(&admin(), new("a", Visibility::Public, false))
        .await
        .unwrap();
    g.create_namespace(&admin(), new("b", Visibility::Public, false))
        .await
        .unwrap();
    assert!(matches!(
        g.update_namespace(&admin(), "a", fields("b", Visibility::Public, false))
            .await,
        Err(DomainError::Conflict(_))
    ));
    g.update_namespace(&admin(), "a", fields("c", Visibility::Private, false))
        .await
        .unwrap();
    assert!(g.namespace(&admin(), "a").await.is_err());
    assert_eq!(
        g.namespace(&admin(), "c").await.unwrap().visibility,
        Visibility::Private
    );
}

#[tokio::test]
async fn the_loader_skips_merges_prefers_new_and_overwrites_as_glance_manage() {
    let n = node().await;
    let g = &n.glance;
    let file = |desc: &str, props: serde_json::Value| -> MetadefFile {
        serde_json::from_value(json!({
            "namespace": "OS::Test", "display_name": "Test", "description": desc,
            "visibility": "public", "protected": true,
            "resource_type_associations": [{"name": "OS::Glance::Image", "prefix": "t_"}],
            "properties": props,
        }))
        .unwrap()
    };
    let p = |title: &str| json!({"title": title, "type": "string"});
    let first = file("one", json!({"a": p("A")}));
    assert!(g
        .load_metadef_file(&alice(), &first, LoadMode::Skip)
        .await
        .is_err());
    assert_eq!(
        g.load_metadef_file(&admin(), &first, LoadMode::Skip)
            .await
            .unwrap(),
        Loaded::Created
    );
    let second = file("two", json!({"a": p("A2"), "b": p("B")}));
    assert_eq!(
        g.load_metadef_file(&admin(), &second, LoadMode::Skip)
            .await
            .unwrap(),
        Loaded::Skipped
    );
    g.load_metadef_file(&admin(), &second, LoadMode::Merge)
        .await
        .unwrap();
    let ns = g.namespace(&admin(), "OS::Test").await.unwrap();
    assert_eq!(ns.description.as_deref(), Some("one"));
    assert_eq!(ns.properties["a"]["title"], "A");
    assert_eq!(ns.properties["b"]["title"], "B");
    g.load_metadef_file(&admin(), &second, LoadMode::PreferNew)
        .await
        .unwrap();
    let ns = g.namespace(&admin(), "OS::Test").await.unwrap();
    assert_eq!(ns.description.as_deref(), Some("two"));
    assert_eq!(ns.properties["a"]["title"], "A2");
    let third = file("three", json!({"c": p("C")}));
    assert_eq!(
        g.load_metadef_file(&admin(), &third, LoadMode::Overwrite)
            .await
            .unwrap(),
        Loaded::Overwritten
    );
    let ns = g.namespace(&admin(), "OS::Test").await.unwrap();
    assert_eq!(ns.properties.keys().collect::<Vec<_>>(), ["c"]);
    assert_eq!(ns.owner.as_deref(), Some("admin"));
    let exported = g.export_metadefs(&admin()).await.unwrap();
    assert_eq!(exported.len(), 1);
    assert_eq!(exported[0].file_name(), "Test.json");
    // Unloading ignores protection, and takes the resource types too.
    assert_eq!(g.unload_metadefs(&admin()).await.unwrap(), 1);
    assert!(g.list_resource_types(&admin()).await.unwrap().is_empty());
}
