//! Unified limits read from Keystone, as oslo.limit reads them for Glance: the image
//! service's project limit for each resource, else its registered (default) limit, else 0.

use super::client::{KeystoneClient, KeystoneError};
use crate::config::LimitsEndpoint;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use tessera_domain::limits::LimitSource;
use tessera_raft::Resource;
use tokio::sync::OnceCell;

/// The service and region that own the limits.
#[derive(Debug, Clone)]
struct Owner {
    service_id: String,
    region_id: Option<String>,
}

/// Limits from Keystone for the configured image endpoint.
pub struct KeystoneLimits {
    client: Arc<KeystoneClient>,
    endpoint: LimitsEndpoint,
    owner: OnceCell<Owner>,
}

fn field(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

fn unusable(what: &str) -> KeystoneError {
    KeystoneError::Unavailable(format!("Keystone answered no usable {what}"))
}

impl KeystoneLimits {
    /// Limits of `endpoint`'s service, read with `client`'s service token.
    pub fn new(client: Arc<KeystoneClient>, endpoint: LimitsEndpoint) -> Self {
        KeystoneLimits {
            client,
            endpoint,
            owner: OnceCell::new(),
        }
    }

    /// Finds (once) the service and region the endpoint belongs to.
    async fn owner(&self) -> Result<&Owner, KeystoneError> {
        self.owner
            .get_or_try_init(|| async {
                let endpoint = match &self.endpoint {
                    LimitsEndpoint::Id(id) => self
                        .client
                        .get_json(&format!("endpoints/{id}"), &[])
                        .await?
                        .get("endpoint")
                        .cloned()
                        .ok_or_else(|| unusable("endpoint"))?,
                    LimitsEndpoint::Lookup {
                        service_type,
                        region,
                        interface,
                    } => {
                        let services = self
                            .client
                            .get_json("services", &[("type", service_type)])
                            .await?;
                        let service = services["services"]
                            .as_array()
                            .and_then(|s| s.first())
                            .and_then(|s| field(s, "id"))
                            .ok_or_else(|| unusable(&format!("'{service_type}' service")))?;
                        let mut q = vec![("service_id", service.as_str()), ("interface", interface)];
                        if let Some(r) = region {
                            q.push(("region_id", r));
                        }
                        let endpoints = self
                            .client
                            .get_json("endpoints", &q)
                            .await?;
                        endpoints["endpoints"]
                            .as_array()
                            .and_then(|e| e.first())
                            .cloned()
                            .ok_or_else(|| unusable(&format!("'{service_type}' endpoint")))?
                    }
                };
                let owner = Owner {
                    service_id: field(&endpoint, "service_id")
                        .ok_or_else(|| unusable("endpoint service"))?,
                    region_id: field(&endpoint, "region_id"),
                };
                tracing::info!(service_id = %owner.service_id, region = ?owner.region_id, "unified limits endpoint");
                Ok(owner)
            })
            .await
    }

    /// `resource_name -> value` of one listing (`limits` / `registered_limits`).
    async fn listing(
        &self,
        what: &str,
        value_key: &str,
        project: Option<&str>,
    ) -> Result<BTreeMap<String, u64>, KeystoneError> {
        let owner = self.owner().await?;
        let mut q = vec![("service_id", owner.service_id.as_str())];
        if let Some(r) = &owner.region_id {
            q.push(("region_id", r));
        }
        if let Some(p) = project {
            q.push(("project_id", p));
        }
        let body = self.client.get_json(what, &q).await?;
        let rows = body[what].as_array().ok_or_else(|| unusable(what))?;
        Ok(rows
            .iter()
            .filter_map(|r| Some((field(r, "resource_name")?, r.get(value_key)?.as_u64()?)))
            .collect())
    }
}

#[async_trait::async_trait]
impl LimitSource for KeystoneLimits {
    async fn limits(
        &self,
        project: &str,
        resources: &[Resource],
    ) -> Result<BTreeMap<Resource, u64>, String> {
        let own = self
            .listing("limits", "resource_limit", Some(project))
            .await
            .map_err(|e| e.to_string())?;
        let registered = self
            .listing("registered_limits", "default_limit", None)
            .await
            .map_err(|e| e.to_string())?;
        Ok(resources
            .iter()
            .map(|&r| {
                let limit = own.get(r.name()).or_else(|| registered.get(r.name()));
                if limit.is_none() {
                    tracing::error!(
                        resource = r.name(),
                        "no limit registered in Keystone; 0 applies"
                    );
                }
                (r, limit.copied().unwrap_or(0))
            })
            .collect())
    }
}
