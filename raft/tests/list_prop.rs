//! Property test: the index-walking list planner returns exactly what the naive definition
//! (filter everything with `matches`, sort with `compare`, skip through the marker, take
//! `limit`) returns.

mod common;

use common::{fresh_db, Applier};
use proptest::prelude::*;
use tessera_raft::index::list_images;
use tessera_raft::{
    Command, Filters, Image, ImageStatus, ListQuery, Member, MemberFilter, MemberStatus, SortDir,
    SortKey, Viewer, Visibility,
};

const OWNERS: [&str; 3] = ["p1", "p2", "p3"];
const NAMES: [&str; 3] = ["n1", "n2", "n\0x"];
const TAGS: [&str; 3] = ["t1", "t2", "t3"];
const STATUSES: [ImageStatus; 4] = [
    ImageStatus::Active,
    ImageStatus::Queued,
    ImageStatus::Killed,
    ImageStatus::Deleted,
];
const VIS: [Visibility; 4] = [
    Visibility::Public,
    Visibility::Private,
    Visibility::Shared,
    Visibility::Community,
];

#[allow(clippy::type_complexity)]
fn arb_image(id: usize) -> impl Strategy<Value = Image> {
    (
        (0..4usize, 0..4usize, 0..4usize, 0..4usize),
        (-3i64..4, 0i64..4, any::<bool>()),
        (
            prop::collection::btree_set(0..3usize, 0..3),
            prop::option::of(0..3usize),
        ),
    )
        .prop_map(move |((o, n, s, v), (c, u, hidden), (tags, member))| {
            let mut img = Image::new(format!("i{id:02}"), OWNERS.get(o).map(|s| s.to_string()), c);
            img.name = NAMES.get(n).map(|s| s.to_string());
            img.status = STATUSES[s];
            img.visibility = VIS[v];
            img.updated_at = c + u;
            img.os_hidden = hidden && o == 0;
            img.tags = tags.into_iter().map(|t| TAGS[t].to_string()).collect();
            if let Some(m) = member {
                img.members.insert(
                    OWNERS[m].to_string(),
                    Member {
                        status: if m == 1 {
                            MemberStatus::Pending
                        } else {
                            MemberStatus::Accepted
                        },
                        created_at: 0,
                        updated_at: 0,
                    },
                );
            }
            img
        })
}

/// A sparse optional filter, so that many queries still match something.
fn w<S: Strategy>(s: S) -> impl Strategy<Value = Option<S::Value>> {
    prop::option::weighted(0.25, s)
}

fn arb_query(n: usize) -> impl Strategy<Value = ListQuery> {
    (
        (prop::option::of(0..3usize), any::<bool>()),
        (w(0..3usize), w(0..3usize), w(0..4usize)),
        (w(0..5usize), w(0..3usize), w(any::<bool>())),
        (0..7usize, prop::option::of(0..n.max(1) + 1), 0..8usize),
    )
        .prop_map(
            move |(
                (proj, admin),
                (owner, name, status),
                (vis, tags, hidden),
                (sort, marker, limit),
            )| {
                let sort = match sort {
                    0 => ListQuery::default_sort(),
                    1 => vec![(SortKey::CreatedAt, SortDir::Asc)],
                    2 => vec![(SortKey::UpdatedAt, SortDir::Desc)],
                    3 => vec![(SortKey::UpdatedAt, SortDir::Asc)],
                    4 => vec![
                        (SortKey::CreatedAt, SortDir::Desc),
                        (SortKey::Id, SortDir::Desc),
                    ],
                    5 => vec![(SortKey::Name, SortDir::Asc)],
                    _ => vec![
                        (SortKey::Status, SortDir::Desc),
                        (SortKey::CreatedAt, SortDir::Asc),
                    ],
                };
                ListQuery {
                    viewer: Viewer {
                        project: proj.map(|p| OWNERS[p].to_string()),
                        admin,
                    },
                    filters: Filters {
                        owner: owner.map(|o| OWNERS[o].to_string()),
                        names: name.map(|x| vec![NAMES[x].to_string()]),
                        statuses: status.map(|s| {
                            if s == 3 {
                                vec![STATUSES[0], STATUSES[1]]
                            } else {
                                vec![STATUSES[s]]
                            }
                        }),
                        visibility: vis.map(|v| VIS.get(v).copied()),
                        tags: tags.into_iter().map(|t| TAGS[t].to_string()).collect(),
                        os_hidden: hidden,
                        member_status: MemberFilter::All,
                        ..Default::default()
                    },
                    sort,
                    // Index n means "an id that does not exist".
                    marker: marker.map(|m| format!("i{m:02}")),
                    limit,
                }
            },
        )
}

fn naive(images: &[Image], q: &ListQuery) -> Option<Vec<Image>> {
    let marker = match &q.marker {
        Some(m) => match images.iter().find(|i| &i.id == m) {
            Some(i) if ListQuery::can_view(&q.viewer, i) => Some(i),
            _ => return None,
        },
        None => None,
    };
    let mut v: Vec<Image> = images
        .iter()
        .filter(|i| q.matches(i))
        .filter(|i| marker.is_none_or(|m| q.compare(i, m).is_gt()))
        .cloned()
        .collect();
    v.sort_by(|a, b| q.compare(a, b));
    v.truncate(q.limit);
    Some(v)
}

fn scenario() -> impl Strategy<Value = (Vec<Image>, Vec<Image>, Vec<usize>, Vec<ListQuery>)> {
    (1usize..14).prop_flat_map(|n| {
        (
            (0..n).map(arb_image).collect::<Vec<_>>(),
            (0..n).map(arb_image).collect::<Vec<_>>(),
            prop::collection::vec(0..n, 0..4),
            prop::collection::vec(arb_query(n), 1..8),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]
    #[test]
    fn indexed_list_equals_naive((first, second, deletes, queries) in scenario()) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let (_dir, db) = fresh_db();
        let mut a = Applier::new(&db);
        let mut model: Vec<Image> = Vec::new();
        rt.block_on(async {
            for img in &first {
                if let tessera_raft::Outcome::Applied(Some(s)) =
                    a.cmd(&format!("c{}", img.id), 0, Command::CreateImage { image: img.clone(), limits: vec![] }).await
                {
                    model.push(s);
                }
            }
            // Rewrite every image (moving it across all indexes), then delete some.
            for img in &second {
                if let tessera_raft::Outcome::Applied(Some(s)) =
                    a.cmd(&format!("p{}", img.id), 0, Command::PutImage { image: img.clone(), expect: 1, limits: vec![] }).await
                {
                    let slot = model.iter_mut().find(|m| m.id == s.id).unwrap();
                    *slot = s;
                }
            }
            for d in &deletes {
                let id = format!("i{d:02}");
                if let tessera_raft::Outcome::Applied(None) =
                    a.cmd(&format!("d{id}"), 0, Command::DeleteImage { id: id.clone(), expect: 2 }).await
                {
                    model.retain(|m| m.id != id);
                }
            }
        });
        for q in &queries {
            let got = list_images(&db.sm, q).ok();
            let want = naive(&model, q);
            prop_assert_eq!(got, want, "query {:?}", q);
        }
    }
}
