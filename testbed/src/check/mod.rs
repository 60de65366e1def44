//! Checkers for a recorded chaos history: linearizability of each image (register and status),
//! durability of acknowledged uploads, and no phantom bytes.
//!
//! The history holds every operation on an image after its create answered (the create names
//! the image), plus the reads and downloads sent to every node after the faults healed,
//! marked `final_check`.

pub mod image_model;
pub mod linearizable;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use image_model::{ImageModel, Input, Output};
use linearizable::{Event, Verdict};

/// One recorded operation on an image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Op {
    /// The client that sent it.
    pub client: usize,
    /// The node it was sent to.
    pub node: String,
    /// The image.
    pub image: String,
    /// What was asked.
    pub input: Input,
    /// What was answered.
    pub output: Output,
    /// When it was sent (ns since the run started).
    pub invoke: u64,
    /// When its answer arrived; `None` for an unknown outcome.
    pub complete: Option<u64>,
    /// Sent after every fault healed, to check the end state.
    #[serde(default)]
    pub final_check: bool,
}

/// An image the workload created, with the register value its create set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Created {
    /// The image id the create answered.
    pub image: String,
    /// The register property given at create.
    pub register: Option<String>,
}

/// A whole recorded run: the images created and every operation on them.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct History {
    /// Images the workload created.
    pub created: Vec<Created>,
    /// Operations, in the order they were recorded.
    pub ops: Vec<Op>,
}

/// A broken guarantee, with the operations (indexes into the history) that show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// Which checker found it.
    pub checker: &'static str,
    /// The image concerned.
    pub image: String,
    /// What is wrong.
    pub message: String,
    /// Indexes of the operations involved.
    pub ops: Vec<usize>,
}

/// What the checkers found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Findings {
    /// Images checked for linearizability.
    pub images: usize,
    /// Images whose search gave up (too much concurrency to decide).
    pub undecided: Vec<String>,
    /// Every violation.
    pub violations: Vec<Violation>,
}

/// Search steps allowed per image before the linearizability check gives up.
const BUDGET: u64 = 2_000_000;

/// Runs every checker over `history`.
pub fn check(created: &[Created], history: &[Op]) -> Findings {
    let mut findings = Findings {
        images: created.len(),
        ..Findings::default()
    };
    let by_image = partition(history);
    for c in created {
        let ops = by_image
            .get(c.image.as_str())
            .map_or(&[][..], Vec::as_slice);
        let events: Vec<Event<Input, Output>> = ops
            .iter()
            .map(|&i| {
                let op = &history[i];
                Event {
                    invoke: op.invoke,
                    // An unknown outcome may take effect any time later, or never.
                    complete: op.complete.filter(|_| op.output != Output::Unknown),
                    input: op.input.clone(),
                    output: op.output.clone(),
                }
            })
            .collect();
        let model = ImageModel {
            initial: c.register.clone(),
        };
        match linearizable::check(&model, &events, BUDGET) {
            Verdict::Linearizable => {}
            Verdict::Unknown(_) => findings.undecided.push(c.image.clone()),
            Verdict::Violation => findings.violations.push(Violation {
                checker: "linearizable",
                image: c.image.clone(),
                message: "no order of the image's operations agrees with what clients saw".into(),
                ops: ops.to_vec(),
            }),
        }
        findings
            .violations
            .extend(durability(&c.image, ops, history));
    }
    findings
}

/// Indexes of each image's operations, in history order.
fn partition(history: &[Op]) -> BTreeMap<&str, Vec<usize>> {
    let mut by_image: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, op) in history.iter().enumerate() {
        by_image.entry(op.image.as_str()).or_default().push(i);
    }
    by_image
}

/// Durability and phantoms for one image: after healing, every node returns the bytes of an
/// acknowledged upload (unless a delete may have happened), and no download ever returns bytes
/// that no upload of this image sent.
fn durability(image: &str, ops: &[usize], history: &[Op]) -> Vec<Violation> {
    let mut violations = Vec::new();
    let sent: Vec<(usize, &str, bool)> = ops
        .iter()
        .filter_map(|&i| match (&history[i].input, &history[i].output) {
            (Input::Upload { sha512 }, out) => Some((i, sha512.as_str(), *out == Output::Done)),
            _ => None,
        })
        .collect();
    let acked = sent.iter().find(|(_, _, acked)| *acked);
    let maybe_deleted = ops.iter().any(|&i| {
        history[i].input == Input::Delete
            && matches!(history[i].output, Output::Done | Output::Unknown)
    });
    for &i in ops {
        let op = &history[i];
        if op.input != Input::Download {
            continue;
        }
        let mut flag = |message: String, mut involved: Vec<usize>| {
            involved.push(i);
            violations.push(Violation {
                checker: "durability",
                image: image.to_string(),
                message,
                ops: involved,
            });
        };
        if let Output::Data { sha512 } = &op.output {
            if !sent.iter().any(|(_, s, _)| s == sha512) {
                flag(
                    format!(
                        "node {} returned bytes (sha512 {sha512}) that were never uploaded",
                        op.node
                    ),
                    sent.iter().map(|(j, _, _)| *j).collect(),
                );
                continue;
            }
        }
        let Some(&(upload, expected, _)) = acked else {
            continue;
        };
        if !op.final_check {
            continue;
        }
        match &op.output {
            Output::Data { sha512 } if sha512 == expected => {}
            Output::NotFound if maybe_deleted => {}
            other => flag(
                format!(
                    "acknowledged upload not readable from node {} after healing: {other:?}",
                    op.node
                ),
                vec![upload],
            ),
        }
    }
    violations
}

#[cfg(test)]
mod tests {
    use super::*;
    use image_model::Status;

    fn op(node: &str, input: Input, output: Output, t: u64, final_check: bool) -> Op {
        Op {
            client: 0,
            node: node.into(),
            image: "img".into(),
            input,
            output,
            invoke: t,
            complete: Some(t + 1),
            final_check,
        }
    }

    fn upload(sha: &str) -> Input {
        Input::Upload { sha512: sha.into() }
    }

    fn data(sha: &str) -> Output {
        Output::Data { sha512: sha.into() }
    }

    fn created() -> Vec<Created> {
        vec![Created {
            image: "img".into(),
            register: None,
        }]
    }

    fn checkers(findings: &Findings) -> Vec<&'static str> {
        findings.violations.iter().map(|v| v.checker).collect()
    }

    #[test]
    fn a_healthy_history_passes() {
        let h = [
            op("n1", upload("aa"), Output::Done, 0, false),
            op("n2", Input::Download, data("aa"), 2, false),
            op("n1", Input::Download, data("aa"), 10, true),
            op("n2", Input::Download, data("aa"), 10, true),
            op(
                "n3",
                Input::Read,
                Output::Seen {
                    status: Status::Active,
                    register: None,
                },
                10,
                true,
            ),
        ];
        let f = check(&created(), &h);
        assert!(f.violations.is_empty(), "{f:?}");
    }

    #[test]
    fn a_lost_upload_is_caught() {
        let h = [
            op("n1", upload("aa"), Output::Done, 0, false),
            op("n1", Input::Download, data("aa"), 10, true),
            op("n3", Input::Download, Output::Unknown, 10, true),
        ];
        let f = check(&created(), &h);
        assert_eq!(checkers(&f), ["durability"], "{f:?}");
        assert_eq!(f.violations[0].ops, [0, 2]);
    }

    #[test]
    fn an_upload_lost_into_a_404_is_caught() {
        let h = [
            op("n1", upload("aa"), Output::Done, 0, false),
            op("n3", Input::Download, Output::NotFound, 10, true),
        ];
        let f = check(&created(), &h);
        // Both: the bytes are gone, and a 404 after no delete breaks linearizability.
        assert_eq!(checkers(&f), ["linearizable", "durability"], "{f:?}");
    }

    #[test]
    fn a_phantom_download_is_caught() {
        let h = [
            op("n1", upload("aa"), Output::Unknown, 0, false),
            op("n2", Input::Download, data("bb"), 5, false),
        ];
        let f = check(&created(), &h);
        assert_eq!(checkers(&f), ["durability"], "{f:?}");
    }

    #[test]
    fn a_deleted_image_may_be_gone_and_must_stay_gone() {
        let gone = [
            op("n1", upload("aa"), Output::Done, 0, false),
            op("n1", Input::Delete, Output::Done, 2, false),
            op("n2", Input::Download, Output::NotFound, 10, true),
        ];
        assert!(check(&created(), &gone).violations.is_empty());
        let resurrected = [
            op("n1", upload("aa"), Output::Done, 0, false),
            op("n1", Input::Delete, Output::Done, 2, false),
            op("n2", Input::Download, data("aa"), 10, true),
        ];
        let f = check(&created(), &resurrected);
        assert_eq!(checkers(&f), ["linearizable"], "{f:?}");
    }

    #[test]
    fn a_stale_register_after_healing_is_caught() {
        let h = [
            op(
                "n1",
                Input::Write { value: "v1".into() },
                Output::Done,
                0,
                false,
            ),
            op(
                "n2",
                Input::Write { value: "v2".into() },
                Output::Done,
                2,
                false,
            ),
            op(
                "n3",
                Input::Read,
                Output::Seen {
                    status: Status::Queued,
                    register: Some("v1".into()),
                },
                10,
                true,
            ),
        ];
        let f = check(&created(), &h);
        assert_eq!(checkers(&f), ["linearizable"], "{f:?}");
    }
}
