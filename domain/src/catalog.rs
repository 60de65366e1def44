//! The caller's service catalog (what Keystone put in the token, as keystonemiddleware
//! hands it to Glance in `X-Service-Catalog`) and what a caller lends a task that calls
//! another service on its behalf: its token and that catalog (`glance-download`).

use serde::{Deserialize, Serialize};

/// The services of a caller's catalog (the node keeps only the ones Tessera asks about).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceCatalog {
    /// The services, in Keystone's order.
    pub services: Vec<CatalogService>,
}

/// One service of a catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogService {
    /// Its type (`image`, `identity`, ...).
    pub service_type: String,
    /// Its endpoints.
    pub endpoints: Vec<CatalogEndpoint>,
}

/// One endpoint of a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogEndpoint {
    /// The region's name (none for an endpoint in no region).
    pub region: Option<String>,
    /// `public`, `internal` or `admin`.
    pub interface: String,
    /// The URL.
    pub url: String,
}

impl ServiceCatalog {
    /// The image service's URL in `region` for `interface`, as Glance's
    /// `get_glance_endpoint` finds it: the first image service with an endpoint in the
    /// region (compared without case) decides, and the interface is matched as given
    /// against Keystone's lower-case names (keystonemiddleware's `publicURL` keys).
    pub fn image_endpoint(&self, region: &str, interface: &str) -> Option<&str> {
        let in_region = |e: &CatalogEndpoint| {
            e.region
                .as_deref()
                .is_some_and(|r| r.to_lowercase() == region.to_lowercase())
        };
        let service = self
            .services
            .iter()
            .filter(|s| s.service_type == "image")
            .find(|s| s.endpoints.iter().any(in_region))?;
        service
            .endpoints
            .iter()
            .filter(|e| in_region(e))
            .find(|e| e.interface.to_lowercase() == interface)
            .map(|e| e.url.as_str())
    }
}

/// What a caller lends a task that acts for it elsewhere: kept in the task record while it
/// runs (so whichever node runs it can), never shown, dropped when the task finishes.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delegation {
    /// The caller's token (`X-Auth-Token`).
    pub token: String,
    /// The caller's catalog; none without Keystone (noauth mode).
    pub catalog: Option<ServiceCatalog>,
}

impl std::fmt::Debug for Delegation {
    /// Never prints the token (task records reach debug logs).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delegation")
            .field("token", &"<hidden>")
            .field("catalog", &self.catalog)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(region: &str, interface: &str, url: &str) -> CatalogEndpoint {
        CatalogEndpoint {
            region: Some(region.into()),
            interface: interface.into(),
            url: url.into(),
        }
    }

    #[test]
    fn finds_the_image_endpoint_as_glance_does() {
        let catalog = ServiceCatalog {
            services: vec![
                CatalogService {
                    service_type: "identity".into(),
                    endpoints: vec![ep("RegionTwo", "public", "http://ks")],
                },
                CatalogService {
                    service_type: "image".into(),
                    endpoints: vec![
                        ep("RegionOne", "public", "http://one"),
                        ep("RegionTwo", "public", "http://two"),
                        ep("RegionTwo", "internal", "http://two-int"),
                    ],
                },
            ],
        };
        assert_eq!(
            catalog.image_endpoint("regiontwo", "public"),
            Some("http://two")
        );
        assert_eq!(
            catalog.image_endpoint("RegionTwo", "internal"),
            Some("http://two-int")
        );
        assert_eq!(catalog.image_endpoint("RegionOne", "admin"), None);
        assert_eq!(catalog.image_endpoint("RegionOne", "PUBLIC"), None);
        assert_eq!(catalog.image_endpoint("nowhere", "public"), None);
        let lent = Delegation {
            token: "secret".into(),
            catalog: None,
        };
        assert!(!format!("{lent:?}").contains("secret"));
    }
}
