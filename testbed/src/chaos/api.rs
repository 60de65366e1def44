//! The workload's Glance API calls, each reduced to the [`Output`] the checkers judge.
//!
//! 2xx is done, 404 not found, 400/403/409 a definite refusal; anything else (5xx, a
//! timeout, a dropped connection) is unknown: the call may or may not have taken effect.

use std::io::Read;
use std::time::Duration;

use serde_json::{json, Value};
use sha2::{Digest, Sha512};

use crate::check::image_model::{Output, Status};

/// A project member (the workload's identity for everything but (de)activation).
pub const MEMBER: &str = "chaos:chaos:member,reader";
/// An admin of the same project (deactivate and reactivate need it).
pub const ADMIN: &str = "chaos-admin:chaos:admin,member,reader";
/// The project images are shared with.
pub const OTHER_PROJECT: &str = "chaos-other";

/// A blocking client for one run.
#[derive(Clone)]
pub struct Api {
    metadata: ureq::Agent,
    data: ureq::Agent,
}

impl Api {
    /// Clients with the given timeouts for metadata and data calls.
    pub fn new(metadata_timeout: Duration, data_timeout: Duration) -> Api {
        let agent = |t| {
            ureq::AgentBuilder::new()
                .timeout_connect(Duration::from_secs(2))
                .timeout(t)
                .build()
        };
        Api {
            metadata: agent(metadata_timeout),
            data: agent(data_timeout),
        }
    }

    /// Creates an image; its id, or `None` when the create failed or its outcome is unknown.
    pub fn create(&self, node: &str, name: &str, register: &str) -> Option<String> {
        let body = json!({
            "name": name,
            "disk_format": "raw",
            "container_format": "bare",
            "register": register,
        });
        let resp = self
            .metadata
            .post(&format!("http://{node}/v2/images"))
            .set("X-Auth-Token", MEMBER)
            .send_json(body)
            .ok()?;
        let v: Value = resp.into_json().ok()?;
        v["id"].as_str().map(str::to_string)
    }

    /// Sets the register property.
    pub fn write(&self, node: &str, id: &str, value: &str) -> Output {
        self.patch(
            node,
            id,
            json!([{ "op": "add", "path": "/register", "value": value }]),
        )
    }

    /// Applies a JSON patch to the image.
    fn patch(&self, node: &str, id: &str, patch: Value) -> Output {
        done(
            self.metadata
                .request("PATCH", &format!("http://{node}/v2/images/{id}"))
                .set("X-Auth-Token", MEMBER)
                .set(
                    "Content-Type",
                    "application/openstack-images-v2.1-json-patch",
                )
                .send_string(&patch.to_string()),
        )
    }

    /// Reads status and register.
    pub fn read(&self, node: &str, id: &str) -> Output {
        let result = self
            .metadata
            .get(&format!("http://{node}/v2/images/{id}"))
            .set("X-Auth-Token", MEMBER)
            .call();
        match result {
            Ok(resp) => match resp.into_json::<Value>() {
                Ok(v) => Output::Seen {
                    status: status(v["status"].as_str().unwrap_or_default()),
                    register: v["register"].as_str().map(str::to_string),
                },
                Err(_) => Output::Unknown,
            },
            Err(e) => failed(e),
        }
    }

    /// Uploads `bytes` (with Content-Length).
    pub fn upload(&self, node: &str, id: &str, bytes: &[u8]) -> Output {
        done(
            self.data
                .put(&format!("http://{node}/v2/images/{id}/file"))
                .set("X-Auth-Token", MEMBER)
                .set("Content-Type", "application/octet-stream")
                .send_bytes(bytes),
        )
    }

    /// Downloads the data, hashing it as it streams.
    pub fn download(&self, node: &str, id: &str) -> Output {
        let result = self
            .data
            .get(&format!("http://{node}/v2/images/{id}/file"))
            .set("X-Auth-Token", MEMBER)
            .call();
        let resp = match result {
            Ok(r) => r,
            Err(e) => return failed(e),
        };
        if resp.status() == 204 {
            return Output::Done;
        }
        let mut hasher = Sha512::new();
        let mut reader = resp.into_reader();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => hasher.update(&buf[..n]),
                Err(_) => return Output::Unknown,
            }
        }
        Output::Data {
            sha512: hex::encode(hasher.finalize()),
        }
    }

    /// Deactivates (`true`) or reactivates the image, as an admin.
    pub fn activation(&self, node: &str, id: &str, deactivate: bool) -> Output {
        let action = if deactivate {
            "deactivate"
        } else {
            "reactivate"
        };
        done(
            self.metadata
                .post(&format!("http://{node}/v2/images/{id}/actions/{action}"))
                .set("X-Auth-Token", ADMIN)
                .call(),
        )
    }

    /// Deletes the image.
    pub fn delete(&self, node: &str, id: &str) -> Output {
        done(
            self.metadata
                .delete(&format!("http://{node}/v2/images/{id}"))
                .set("X-Auth-Token", MEMBER)
                .call(),
        )
    }

    /// Adds or removes a tag.
    pub fn tag(&self, node: &str, id: &str, tag: &str, add: bool) -> Output {
        let url = format!("http://{node}/v2/images/{id}/tags/{tag}");
        let req = if add {
            self.metadata.put(&url)
        } else {
            self.metadata.delete(&url)
        };
        done(req.set("X-Auth-Token", MEMBER).call())
    }

    /// Shares the image with [`OTHER_PROJECT`] (making it `shared`) or takes the share back.
    pub fn share(&self, node: &str, id: &str, add: bool) -> Output {
        if !add {
            return done(
                self.metadata
                    .delete(&format!(
                        "http://{node}/v2/images/{id}/members/{OTHER_PROJECT}"
                    ))
                    .set("X-Auth-Token", MEMBER)
                    .call(),
            );
        }
        let visibility = self.patch(
            node,
            id,
            json!([{ "op": "replace", "path": "/visibility", "value": "shared" }]),
        );
        if visibility != Output::Done {
            return visibility;
        }
        done(
            self.metadata
                .post(&format!("http://{node}/v2/images/{id}/members"))
                .set("X-Auth-Token", MEMBER)
                .send_json(json!({ "member": OTHER_PROJECT })),
        )
    }
}

impl Api {
    /// POSTs to one of Tessera's admin endpoints as an admin; the JSON answer.
    pub fn admin_post(&self, node: &str, path: &str) -> Result<Value, String> {
        let resp = self
            .data
            .post(&format!("http://{node}{path}"))
            .set("X-Auth-Token", ADMIN)
            .set("Accept", "application/json")
            .call()
            .map_err(|e| format!("POST {path} on {node}: {e}"))?;
        resp.into_json()
            .map_err(|e| format!("POST {path} on {node}: bad JSON: {e}"))
    }
}

/// The image status a read showed. An upload in progress (`saving`) has not taken effect yet.
fn status(s: &str) -> Status {
    match s {
        "queued" | "saving" => Status::Queued,
        "active" => Status::Active,
        "deactivated" => Status::Deactivated,
        _ => Status::Unexpected,
    }
}

/// The outcome of a call whose success body does not matter.
fn done(result: Result<ureq::Response, ureq::Error>) -> Output {
    match result {
        Ok(_) => Output::Done,
        Err(e) => failed(e),
    }
}

/// The outcome of a failed call.
fn failed(e: ureq::Error) -> Output {
    match e {
        ureq::Error::Status(404, _) => Output::NotFound,
        ureq::Error::Status(400 | 403 | 409, _) => Output::Refused,
        _ => Output::Unknown,
    }
}
