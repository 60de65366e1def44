//! The chaos workload: concurrent clients, each sending every request to a random node, and
//! the recorder of every operation with its invocation and completion time and result.
//!
//! Each client draws its operations from its own seeded generator, so a seed fixes every
//! client's sequence of choices (which images they land on depends on timing).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use sha2::{Digest, Sha512};

use super::api::Api;
use crate::check::image_model::{Input, Output};
use crate::check::{Created, History, Op};

/// Size of the shared blocks that make uploads share chunks (dedup).
const BLOCK: usize = 2 << 20;
/// Number of shared blocks.
const BLOCKS: usize = 4;

/// What the clients do.
#[derive(Debug, Clone)]
pub struct WorkloadConfig {
    /// Concurrent clients.
    pub clients: usize,
    /// Seed of every client's choices.
    pub seed: u64,
    /// Largest upload, bytes.
    pub max_size: usize,
    /// API address (host:port) of every node.
    pub nodes: Vec<String>,
}

/// Latency and outcome counts of one kind of operation.
#[derive(Debug, Clone, Default, Serialize)]
pub struct OpStats {
    /// Operations by outcome (`done`, `not_found`, `refused`, `unknown`, ...).
    pub outcomes: BTreeMap<String, u64>,
    /// Latencies in milliseconds (sorted when reported).
    pub latencies_ms: Vec<u64>,
}

/// Everything recorded during a run.
#[derive(Default)]
pub struct Recorded {
    /// The checkers' input.
    pub history: History,
    /// Per operation kind.
    pub stats: BTreeMap<&'static str, OpStats>,
}

/// Shared by the clients: the clock, the record, and the images to work on.
pub struct Recorder {
    start: Instant,
    recorded: Mutex<Recorded>,
    images: Mutex<Vec<String>>,
    /// Created images nobody has claimed to upload to yet.
    unclaimed: Mutex<Vec<String>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Recorder {
    /// A recorder whose clock starts now.
    pub fn new() -> Recorder {
        Recorder {
            start: Instant::now(),
            recorded: Mutex::new(Recorded::default()),
            images: Mutex::new(Vec::new()),
            unclaimed: Mutex::new(Vec::new()),
        }
    }

    /// Nanoseconds since the run started.
    pub fn now(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Times `call` and records it as an operation on `image`.
    pub fn op(
        &self,
        client: usize,
        node: &str,
        image: &str,
        input: Input,
        final_check: bool,
        call: impl FnOnce() -> Output,
    ) -> Output {
        let kind = kind_of(&input);
        let invoke = self.now();
        let output = call();
        let complete = self.now();
        self.sample(kind, outcome_name(&output), invoke, complete);
        lock(&self.recorded).history.ops.push(Op {
            client,
            node: node.to_string(),
            image: image.to_string(),
            input,
            output: output.clone(),
            invoke,
            complete: Some(complete),
            final_check,
        });
        output
    }

    /// Records an operation outside the model (create, tags, shares).
    fn other(&self, kind: &'static str, call: impl FnOnce() -> Output) -> Output {
        let invoke = self.now();
        let output = call();
        self.sample(kind, outcome_name(&output), invoke, self.now());
        output
    }

    fn sample(&self, kind: &'static str, outcome: &str, invoke: u64, complete: u64) {
        let mut r = lock(&self.recorded);
        let s = r.stats.entry(kind).or_default();
        *s.outcomes.entry(outcome.to_string()).or_default() += 1;
        s.latencies_ms.push((complete - invoke) / 1_000_000);
    }

    fn created(&self, image: String, register: String) {
        lock(&self.recorded).history.created.push(Created {
            image: image.clone(),
            register: Some(register),
        });
        lock(&self.images).push(image.clone());
        lock(&self.unclaimed).push(image);
    }

    fn pick(&self, rng: &mut impl Rng) -> Option<String> {
        let images = lock(&self.images);
        (!images.is_empty()).then(|| images[rng.gen_range(0..images.len())].clone())
    }

    fn claim(&self, rng: &mut impl Rng) -> Option<String> {
        let mut unclaimed = lock(&self.unclaimed);
        let n = unclaimed.len();
        (n > 0).then(|| unclaimed.swap_remove(rng.gen_range(0..n)))
    }

    /// Every image created so far.
    pub fn images(&self) -> Vec<String> {
        lock(&self.images).clone()
    }

    /// Takes what was recorded.
    pub fn take(&self) -> Recorded {
        std::mem::take(&mut *lock(&self.recorded))
    }
}

/// The report's name for an operation.
fn kind_of(input: &Input) -> &'static str {
    match input {
        Input::Write { .. } => "write",
        Input::Read => "read",
        Input::Upload { .. } => "upload",
        Input::Download => "download",
        Input::Deactivate => "deactivate",
        Input::Reactivate => "reactivate",
        Input::Delete => "delete",
    }
}

fn outcome_name(o: &Output) -> &'static str {
    match o {
        Output::Done | Output::Seen { .. } | Output::Data { .. } => "ok",
        Output::NotFound => "not_found",
        Output::Refused => "refused",
        Output::Unknown => "unknown",
    }
}

/// Runs `cfg.clients` clients until `stop` is set.
pub fn run(cfg: &WorkloadConfig, api: &Api, recorder: &Arc<Recorder>, stop: &Arc<AtomicBool>) {
    let blocks = Arc::new(shared_blocks(cfg.seed));
    std::thread::scope(|s| {
        for client in 0..cfg.clients {
            let blocks = blocks.clone();
            s.spawn(move || {
                let mut c = Client {
                    id: client,
                    rng: ChaCha8Rng::seed_from_u64(
                        cfg.seed ^ (client as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
                    ),
                    cfg,
                    api,
                    recorder,
                    blocks: &blocks,
                    writes: 0,
                };
                while !stop.load(Ordering::Relaxed) {
                    c.one();
                }
            });
        }
    });
}

/// The blocks some uploads are built from, so images share chunks.
fn shared_blocks(seed: u64) -> Vec<Vec<u8>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..BLOCKS)
        .map(|_| {
            let mut b = vec![0u8; BLOCK];
            rng.fill_bytes(&mut b);
            b
        })
        .collect()
}

struct Client<'a> {
    id: usize,
    rng: ChaCha8Rng,
    cfg: &'a WorkloadConfig,
    api: &'a Api,
    recorder: &'a Recorder,
    blocks: &'a [Vec<u8>],
    writes: u64,
}

impl Client<'_> {
    /// Sends one randomly chosen operation to a random node.
    fn one(&mut self) {
        let node = self.cfg.nodes[self.rng.gen_range(0..self.cfg.nodes.len())].clone();
        let choice = self.rng.gen_range(0..100u32);
        let (api, rec, me) = (self.api, self.recorder, self.id);
        if choice < 12 {
            return self.create(&node);
        }
        if (12..24).contains(&choice) {
            let Some(image) = rec.claim(&mut self.rng) else {
                return self.create(&node);
            };
            let data = self.data();
            let sha512 = hex::encode(Sha512::digest(&data));
            rec.op(me, &node, &image, Input::Upload { sha512 }, false, || {
                api.upload(&node, &image, &data)
            });
            return;
        }
        let Some(image) = rec.pick(&mut self.rng) else {
            return self.create(&node);
        };
        match choice {
            24..=35 => {
                rec.op(me, &node, &image, Input::Download, false, || {
                    api.download(&node, &image)
                });
            }
            36..=55 => {
                self.writes += 1;
                let value = format!("c{me}-w{}", self.writes);
                rec.op(
                    me,
                    &node,
                    &image,
                    Input::Write {
                        value: value.clone(),
                    },
                    false,
                    || api.write(&node, &image, &value),
                );
            }
            56..=75 => {
                rec.op(me, &node, &image, Input::Read, false, || {
                    api.read(&node, &image)
                });
            }
            76..=83 => {
                let add = self.rng.gen_bool(0.6);
                let tag = format!("t{}", self.rng.gen_range(0..4));
                rec.other(if add { "tag_add" } else { "tag_remove" }, || {
                    api.tag(&node, &image, &tag, add)
                });
            }
            84..=88 => {
                let add = self.rng.gen_bool(0.6);
                rec.other(if add { "share" } else { "unshare" }, || {
                    api.share(&node, &image, add)
                });
            }
            89..=95 => {
                let deactivate = self.rng.gen_bool(0.5);
                let input = if deactivate {
                    Input::Deactivate
                } else {
                    Input::Reactivate
                };
                rec.op(me, &node, &image, input, false, || {
                    api.activation(&node, &image, deactivate)
                });
            }
            _ => {
                rec.op(me, &node, &image, Input::Delete, false, || {
                    api.delete(&node, &image)
                });
            }
        }
    }

    fn create(&mut self, node: &str) {
        self.writes += 1;
        let register = format!("c{}-w{}", self.id, self.writes);
        let name = format!("chaos-{}-{}", self.id, self.writes);
        let mut id = None;
        self.recorder.other("create", || {
            id = self.api.create(node, &name, &register);
            if id.is_some() {
                Output::Done
            } else {
                Output::Unknown
            }
        });
        if let Some(id) = id {
            self.recorder.created(id, register);
        }
    }

    /// Upload bytes: a size from one byte to `max_size` (log-uniform), built from shared
    /// blocks about a third of the time.
    fn data(&mut self) -> Vec<u8> {
        let max = self.cfg.max_size.max(2) as f64;
        let size = max.powf(self.rng.gen::<f64>()) as usize;
        let mut data = Vec::with_capacity(size);
        let shared = size >= BLOCK && self.rng.gen_bool(0.35);
        while data.len() < size {
            if shared && self.rng.gen_bool(0.7) {
                let block = &self.blocks[self.rng.gen_range(0..self.blocks.len())];
                data.extend_from_slice(block);
            } else {
                let start = data.len();
                data.resize((start + BLOCK).min(size), 0);
                self.rng.fill_bytes(&mut data[start..]);
            }
        }
        data.truncate(size);
        data
    }
}
