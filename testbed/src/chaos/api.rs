//! The workload's Glance API calls, each reduced to the [`Output`] the checkers judge.
//!
//! 2xx is done, 404 not found, 400/403/409 a definite refusal; anything else (5xx, a
//! timeout, a dropped connection) is unknown: the call may or may not have taken effect.

use std::io::Read;
use std::time::Duration;

use reqwest::blocking::Response;
use reqwest::Method;
use serde_json::{json, Value};
use sha2::{Digest, Sha512};

use crate::check::image_model::{Output, Status};
use crate::http::Client;

/// A project member (the workload's identity for everything but (de)activation).
pub const MEMBER: &str = "chaos:chaos:member,reader";
/// An admin of the same project (deactivate and reactivate need it).
pub const ADMIN: &str = "chaos-admin:chaos:admin,member,reader";
/// The project images are shared with.
pub const OTHER_PROJECT: &str = "chaos-other";

/// A blocking client for one run.
#[derive(Clone)]
pub struct Api {
    metadata: Client,
    data: Client,
}

impl Api {
    /// Clients with the given timeouts for metadata and data calls.
    pub fn new(metadata_timeout: Duration, data_timeout: Duration) -> reqwest::Result<Api> {
        Ok(Api {
            metadata: Client::new(metadata_timeout)?,
            data: Client::new(data_timeout)?,
        })
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
            .request(Method::POST, &format!("http://{node}/v2/images"))
            .header("X-Auth-Token", MEMBER)
            .json(&body)
            .send();
        let v: Value = checked(resp).ok()?.json().ok()?;
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
                .request(Method::PATCH, &format!("http://{node}/v2/images/{id}"))
                .header("X-Auth-Token", MEMBER)
                .header(
                    "Content-Type",
                    "application/openstack-images-v2.1-json-patch",
                )
                .body(patch.to_string())
                .send(),
        )
    }

    /// Reads status and register.
    pub fn read(&self, node: &str, id: &str) -> Output {
        let result = self
            .metadata
            .request(Method::GET, &format!("http://{node}/v2/images/{id}"))
            .header("X-Auth-Token", MEMBER)
            .send();
        match checked(result) {
            Ok(resp) => match resp.json::<Value>() {
                Ok(v) => Output::Seen {
                    status: status(v["status"].as_str().unwrap_or_default()),
                    register: v["register"].as_str().map(str::to_string),
                },
                Err(_) => Output::Unknown,
            },
            Err(out) => out,
        }
    }

    /// Uploads `bytes` (with Content-Length).
    pub fn upload(&self, node: &str, id: &str, bytes: &[u8]) -> Output {
        done(
            self.data
                .request(Method::PUT, &format!("http://{node}/v2/images/{id}/file"))
                .header("X-Auth-Token", MEMBER)
                .header("Content-Type", "application/octet-stream")
                .body(bytes.to_vec())
                .send(),
        )
    }

    /// Downloads the data, hashing it as it streams.
    pub fn download(&self, node: &str, id: &str) -> Output {
        let result = self
            .data
            .request(Method::GET, &format!("http://{node}/v2/images/{id}/file"))
            .header("X-Auth-Token", MEMBER)
            .send();
        let mut resp = match checked(result) {
            Ok(r) => r,
            Err(out) => return out,
        };
        if resp.status() == 204 {
            return Output::Done;
        }
        let mut hasher = Sha512::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            match resp.read(&mut buf) {
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
                .request(
                    Method::POST,
                    &format!("http://{node}/v2/images/{id}/actions/{action}"),
                )
                .header("X-Auth-Token", ADMIN)
                .send(),
        )
    }

    /// Deletes the image.
    pub fn delete(&self, node: &str, id: &str) -> Output {
        done(
            self.metadata
                .request(Method::DELETE, &format!("http://{node}/v2/images/{id}"))
                .header("X-Auth-Token", MEMBER)
                .send(),
        )
    }

    /// Adds or removes a tag.
    pub fn tag(&self, node: &str, id: &str, tag: &str, add: bool) -> Output {
        let url = format!("http://{node}/v2/images/{id}/tags/{tag}");
        let method = if add { Method::PUT } else { Method::DELETE };
        done(
            self.metadata
                .request(method, &url)
                .header("X-Auth-Token", MEMBER)
                .send(),
        )
    }

    /// Shares the image with [`OTHER_PROJECT`] (making it `shared`) or takes the share back.
    pub fn share(&self, node: &str, id: &str, add: bool) -> Output {
        if !add {
            return done(
                self.metadata
                    .request(
                        Method::DELETE,
                        &format!("http://{node}/v2/images/{id}/members/{OTHER_PROJECT}"),
                    )
                    .header("X-Auth-Token", MEMBER)
                    .send(),
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
                .request(
                    Method::POST,
                    &format!("http://{node}/v2/images/{id}/members"),
                )
                .header("X-Auth-Token", MEMBER)
                .json(&json!({ "member": OTHER_PROJECT }))
                .send(),
        )
    }
}

impl Api {
    /// POSTs to one of Tessera's admin endpoints as an admin; the JSON answer.
    pub fn admin_post(&self, node: &str, path: &str) -> Result<Value, String> {
        let resp = self
            .data
            .request(Method::POST, &format!("http://{node}{path}"))
            .header("X-Auth-Token", ADMIN)
            .header("Accept", "application/json")
            .send()
            .map_err(|e| format!("POST {path} on {node}: {e}"))?;
        let code = resp.status().as_u16();
        if code >= 400 {
            return Err(format!("POST {path} on {node}: status code {code}"));
        }
        resp.json()
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

/// The response of a call answered below 400, or the outcome of one that was not: 404 not
/// found, 400/403/409 refused, anything else (5xx, a timeout, a dropped connection) unknown.
fn checked(result: reqwest::Result<Response>) -> Result<Response, Output> {
    let resp = result.map_err(|_| Output::Unknown)?;
    match resp.status().as_u16() {
        code if code < 400 => Ok(resp),
        404 => Err(Output::NotFound),
        400 | 403 | 409 => Err(Output::Refused),
        _ => Err(Output::Unknown),
    }
}

/// The outcome of a call whose success body does not matter.
fn done(result: reqwest::Result<Response>) -> Output {
    match checked(result) {
        Ok(_) => Output::Done,
        Err(out) => out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::TcpListener;

    /// A server on loopback answering each connection with the next canned response (`None`
    /// drops the connection unanswered); its address.
    fn serve(responses: Vec<Option<String>>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            for response in responses {
                let (mut conn, _) = listener.accept().unwrap();
                // Read the request head before answering, so the client sees the reply.
                let mut buf = [0u8; 4096];
                let _ = conn.read(&mut buf);
                if let Some(r) = response {
                    let _ = conn.write_all(r.as_bytes());
                }
            }
        });
        addr
    }

    fn status(code: u16, body: &str) -> Option<String> {
        Some(format!(
            "HTTP/1.1 {code} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ))
    }

    #[test]
    fn statuses_are_classified_as_the_checkers_expect() {
        let api = Api::new(Duration::from_secs(2), Duration::from_secs(2)).unwrap();
        let node = serve(vec![
            status(204, ""),
            status(404, "{}"),
            status(400, "{}"),
            status(403, "{}"),
            status(409, "{}"),
            status(500, "{}"),
            None,
            status(200, r#"{"status": "active", "register": "r1"}"#),
            status(201, r#"{"id": "i1"}"#),
            status(503, "{}"),
        ]);
        assert_eq!(api.delete(&node, "i"), Output::Done);
        assert_eq!(api.delete(&node, "i"), Output::NotFound);
        assert_eq!(api.delete(&node, "i"), Output::Refused);
        assert_eq!(api.delete(&node, "i"), Output::Refused);
        assert_eq!(api.delete(&node, "i"), Output::Refused);
        assert_eq!(api.delete(&node, "i"), Output::Unknown);
        assert_eq!(api.delete(&node, "i"), Output::Unknown);
        assert_eq!(
            api.read(&node, "i"),
            Output::Seen {
                status: Status::Active,
                register: Some("r1".into())
            }
        );
        assert_eq!(api.create(&node, "n", "r"), Some("i1".into()));
        assert_eq!(api.create(&node, "n", "r"), None);
    }

    #[test]
    fn a_silent_node_times_out_as_unknown() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let node = listener.local_addr().unwrap().to_string();
        let api = Api::new(Duration::from_millis(300), Duration::from_millis(300)).unwrap();
        let started = std::time::Instant::now();
        assert_eq!(api.read(&node, "i"), Output::Unknown);
        assert!(started.elapsed() < Duration::from_secs(2));
        drop(listener);
    }
}
