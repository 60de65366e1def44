//! `glance-download`, as Glance's `_ImportMetadata` and `GlanceDownload` tasks: the remote
//! image service's URL comes from the caller's catalog (`glance_region`,
//! `glance_service_interface`); the remote image's record is read with the caller's token
//! (it must be `active`; its formats and the properties `[glance_download_properties]
//! extra_properties` selects are copied); then its data is fetched with that token as
//! `web-download` fetches (the import filter on every hop, as Glance applies
//! `validate_import_uri`; the size cap, the inspector, progress), held to the remote size and
//! `os_hash_value`. The image takes the copied metadata only when it becomes active, so a
//! failure leaves it as it was (Glance reverts what it set).

use super::web_download::{fetch_body, DownloadError};
use crate::service::Glance;
use crate::tasks::claim::Claim;
use crate::tasks::{CopiedMetadata, StoredData, Task};
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::Value;

/// Largest remote image record read (a record here is at most 1 MiB).
const MAX_RECORD: usize = 2 << 20;

/// Glance's reserved property prefix: never copied.
const RESERVED: &str = "os_glance_";

fn failed(message: impl Into<String>) -> DownloadError {
    DownloadError::Failed(message.into())
}

/// Where the remote image lives: its id and the image service's URL in the catalog.
struct Remote {
    id: String,
    endpoint: String,
}

/// Reads the task's request and the caller's catalog as Glance's `get_glance_endpoint`.
fn remote(task: &Task) -> Result<Remote, DownloadError> {
    let method = task.input.pointer("/import_req/method");
    let text = |key: &str| method.and_then(|m| m.get(key)).and_then(Value::as_str);
    let region = text("glance_region").ok_or_else(|| failed("'glance_region' is not a string"))?;
    let interface = text("glance_service_interface").unwrap_or("public");
    let id = text("glance_image_id")
        .and_then(|s| uuid::Uuid::parse_str(s).ok())
        .ok_or_else(|| failed("'glance_image_id' is not a UUID"))?;
    let Some(lent) = &task.delegation else {
        return Err(failed("The caller's token did not reach this task"));
    };
    let Some(catalog) = &lent.catalog else {
        return Err(failed(
            "No service catalog came with the request: glance-download needs Keystone authentication",
        ));
    };
    let endpoint = catalog.image_endpoint(region, interface).ok_or_else(|| {
        failed(format!(
            "{interface} glance endpoint not found for region {region}"
        ))
    })?;
    Ok(Remote {
        id: id.hyphenated().to_string(),
        endpoint: endpoint.trim_end_matches('/').to_string(),
    })
}

/// Fetches the remote image the claimed task names into the chunk store, with the metadata
/// its image takes.
pub(super) async fn download(glance: &Glance, claim: &Claim) -> Result<StoredData, DownloadError> {
    let task = claim.task().await;
    let remote = remote(&task)?;
    let record_url = format!("{}/v2/images/{}", remote.endpoint, remote.id);
    let file_url = format!("{record_url}/file");
    let filter = &glance.import.filter;
    if let Err(why) = filter.check(&file_url).await {
        tracing::info!(url = %file_url, reason = %why, "glance-download URI refused");
        return Err(failed(format!(
            "Processed URI for glance-download does not pass filtering: {file_url}"
        )));
    }
    let token = task
        .delegation
        .as_ref()
        .map(|d| d.token.as_str())
        .unwrap_or_default();
    let mut headers = HeaderMap::new();
    let token = HeaderValue::from_str(token)
        .map_err(|_| failed("The caller's token cannot be sent in a header"))?;
    headers.insert("x-auth-token", token);
    tracing::info!(url = %record_url, "fetching the remote image's record");
    let resp = filter
        .fetch(&record_url, headers.clone())
        .await
        .map_err(failed)?;
    let record = read_record(resp).await?;
    let (copied, size, sha512) =
        copy_metadata(&record, &glance.import.download_properties, &remote.id).map_err(failed)?;
    tracing::info!(url = %file_url, size, "downloading the remote image");
    let resp = filter.fetch(&file_url, headers).await.map_err(failed)?;
    let mut data = fetch_body(glance, claim, resp, Some(size)).await?;
    if sha512.is_some_and(|remote| remote != data.sha512) {
        return Err(failed(format!(
            "The data downloaded does not match the os_hash_value of remote image {}",
            remote.id
        )));
    }
    data.copied = Some(Box::new(copied));
    Ok(data)
}

/// The remote record's JSON, read up to [`MAX_RECORD`] bytes.
async fn read_record(mut resp: reqwest::Response) -> Result<Value, DownloadError> {
    let mut body = Vec::new();
    while let Some(piece) = resp
        .chunk()
        .await
        .map_err(|e| failed(format!("Failed to read the remote image's record: {e}")))?
    {
        body.extend_from_slice(&piece);
        if body.len() > MAX_RECORD {
            return Err(failed("The remote image's record is too large"));
        }
    }
    serde_json::from_slice(&body)
        .map_err(|e| failed(format!("The remote image's record is not JSON: {e}")))
}

/// What the image takes from the remote `record` (formats, the string properties under one
/// of `prefixes` outside Glance's reserved namespace), the size its data must have and the
/// SHA-512 it must hash to, when the record gives one; or why the import fails.
fn copy_metadata(
    record: &Value,
    prefixes: &[String],
    id: &str,
) -> Result<(CopiedMetadata, u64, Option<String>), String> {
    let text = |key: &str| record.get(key).and_then(Value::as_str);
    let status = text("status").unwrap_or("unknown");
    if status != "active" {
        return Err(format!(
            "Source image status should be active instead of {status}"
        ));
    }
    let format = |key: &str| {
        text(key)
            .map(str::to_string)
            .ok_or_else(|| format!("The remote image {id} has no {key}"))
    };
    let size = record
        .get("size")
        .and_then(Value::as_u64)
        .ok_or_else(|| format!("Size attribute of remote image {id} could not be determined."))?;
    let properties = record
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| prefixes.iter().any(|p| k.starts_with(p.as_str())))
        .filter(|(k, _)| !k.starts_with(RESERVED))
        .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
        .collect();
    let sha512 = (text("os_hash_algo") == Some("sha512"))
        .then(|| text("os_hash_value").map(str::to_string))
        .flatten();
    let copied = CopiedMetadata {
        disk_format: format("disk_format")?,
        container_format: format("container_format")?,
        properties,
    };
    Ok((copied, size, sha512))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{CatalogEndpoint, CatalogService, Delegation, ServiceCatalog};
    use crate::import::DOWNLOAD_PROPERTIES;
    use serde_json::json;

    fn prefixes() -> Vec<String> {
        DOWNLOAD_PROPERTIES.map(String::from).to_vec()
    }

    #[test]
    fn copies_formats_and_the_configured_properties_only() {
        let record = json!({"id": "x", "status": "active", "size": 12,
            "disk_format": "qcow2", "container_format": "ovf",
            "os_hash_algo": "sha512", "os_hash_value": "abc",
            "hw_cpu_cores": "5", "trait:STORAGE_DISK_SSD": "required", "os_distro": "rhel",
            "os_type": "linux", "speed": "88mph", "os_glance_import_task": "t",
            "hw_numeric": 3, "os_hidden": false});
        let (copied, size, sha) = copy_metadata(&record, &prefixes(), "x").unwrap();
        assert_eq!((size, sha.as_deref()), (12, Some("abc")));
        assert_eq!(
            (
                copied.disk_format.as_str(),
                copied.container_format.as_str()
            ),
            ("qcow2", "ovf")
        );
        let keys: Vec<&str> = copied.properties.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "hw_cpu_cores",
                "os_distro",
                "os_type",
                "trait:STORAGE_DISK_SSD"
            ]
        );
    }

    #[test]
    fn refuses_a_remote_image_that_is_not_active_or_has_no_size() {
        let queued = json!({"status": "queued", "disk_format": "raw", "container_format": "bare"});
        assert_eq!(
            copy_metadata(&queued, &prefixes(), "x").unwrap_err(),
            "Source image status should be active instead of queued"
        );
        let sizeless = json!({"status": "active", "size": null, "disk_format": "raw",
            "container_format": "bare"});
        assert_eq!(
            copy_metadata(&sizeless, &prefixes(), "x").unwrap_err(),
            "Size attribute of remote image x could not be determined."
        );
    }

    #[test]
    fn the_endpoint_comes_from_the_lent_catalog() {
        let id = "36d4b546-64a2-4bb9-bdd0-ba676aa48f2c";
        let mut task = Task::new(
            crate::tasks::API_IMAGE_IMPORT,
            "p",
            json!({"import_req": {"method": {"name": "glance-download", "glance_region": "RegionTwo",
                "glance_image_id": id, "glance_service_interface": "public"}}}),
        );
        let msg = |t: &Task| match remote(t) {
            Err(DownloadError::Failed(m)) => m,
            _ => panic!("a failure expected"),
        };
        assert_eq!(msg(&task), "The caller's token did not reach this task");
        task.delegation = Some(Delegation {
            token: "t".into(),
            catalog: None,
        });
        assert!(msg(&task).starts_with("No service catalog"));
        let catalog = ServiceCatalog {
            services: vec![CatalogService {
                service_type: "image".into(),
                endpoints: vec![CatalogEndpoint {
                    region: Some("RegionTwo".into()),
                    interface: "public".into(),
                    url: "http://127.0.0.1:9393/".into(),
                }],
            }],
        };
        task.delegation = Some(Delegation {
            token: "t".into(),
            catalog: Some(catalog),
        });
        let found = remote(&task).ok().unwrap();
        assert_eq!(
            (found.id.as_str(), found.endpoint.as_str()),
            (id, "http://127.0.0.1:9393")
        );
        task.input["import_req"]["method"]["glance_region"] = json!("RegionOne");
        assert_eq!(
            msg(&task),
            "public glance endpoint not found for region RegionOne"
        );
    }
}
