//! TLS for the public API: rustls with the operator's certificate chain and key, swapped in
//! place on SIGHUP so a renewed certificate needs no restart (open connections keep theirs).

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

/// Why the API's certificate could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ApiTlsError {
    /// A PEM file is unreadable or holds nothing of the expected kind.
    #[error("{path}: {source}")]
    Pem {
        /// The file concerned.
        path: PathBuf,
        /// What is wrong with it.
        source: rustls_pki_types::pem::Error,
    },
    /// The key is unusable or does not match the certificate.
    #[error("{path}: {source}")]
    Key {
        /// The key file.
        path: PathBuf,
        /// rustls's complaint.
        source: rustls::Error,
    },
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// Where the API's certificate chain and key live (`--tls-cert`, `--tls-key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiTlsFiles {
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

/// The certificate in use, swapped whole on reload.
#[derive(Debug)]
struct CurrentKey(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for CurrentKey {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.0
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        )
    }
}

/// The API's TLS: an acceptor for connections and the reload of its certificate.
#[derive(Clone)]
pub struct ApiTls {
    files: ApiTlsFiles,
    current: Arc<CurrentKey>,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl std::fmt::Debug for ApiTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiTls")
            .field("files", &self.files)
            .finish()
    }
}

impl ApiTls {
    /// Loads the certificate and key; HTTP/2 and HTTP/1.1 are offered by ALPN.
    pub fn load(files: ApiTlsFiles) -> Result<Self, ApiTlsError> {
        let current = Arc::new(CurrentKey(RwLock::new(Arc::new(certified_key(&files)?))));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(current.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Self {
            files,
            current,
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        })
    }

    /// Re-reads the files; on failure the certificate in use stays.
    pub fn reload(&self) -> Result<(), ApiTlsError> {
        let key = Arc::new(certified_key(&self.files)?);
        *self
            .current
            .0
            .write()
            .unwrap_or_else(PoisonError::into_inner) = key;
        Ok(())
    }

    /// Accepts TLS on new connections.
    pub fn acceptor(&self) -> &tokio_rustls::TlsAcceptor {
        &self.acceptor
    }

    /// The certificate file, for log lines.
    pub fn cert_path(&self) -> &Path {
        &self.files.cert
    }
}

/// Reads the chain and key and checks that they belong together.
fn certified_key(files: &ApiTlsFiles) -> Result<CertifiedKey, ApiTlsError> {
    let pem = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ApiTlsError::Pem { path, source }
    };
    let chain = CertificateDer::pem_file_iter(&files.cert)
        .map_err(pem(&files.cert))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem(&files.cert))?;
    if chain.is_empty() {
        return Err(ApiTlsError::Pem {
            path: files.cert.clone(),
            source: rustls_pki_types::pem::Error::NoItemsFound,
        });
    }
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(pem(&files.key))?;
    CertifiedKey::from_der(chain, key, &rustls::crypto::ring::default_provider()).map_err(
        |source| ApiTlsError::Key {
            path: files.key.clone(),
            source,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_pair(dir: &Path, name: &str) -> ApiTlsFiles {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let files = ApiTlsFiles {
            cert: dir.join(format!("{name}.pem")),
            key: dir.join(format!("{name}.key")),
        };
        std::fs::write(&files.cert, cert.pem()).unwrap();
        std::fs::write(&files.key, key.serialize_pem()).unwrap();
        files
    }

    fn served(tls: &ApiTls) -> CertificateDer<'static> {
        tls.current.0.read().unwrap().cert[0].clone()
    }

    #[test]
    fn reload_swaps_the_certificate_and_a_bad_one_keeps_the_old() {
        let dir = tempfile::tempdir().unwrap();
        let files = write_pair(dir.path(), "api");
        let tls = ApiTls::load(files.clone()).unwrap();
        let first = served(&tls);
        let renewed = write_pair(dir.path(), "renewed");
        std::fs::copy(&renewed.cert, &files.cert).unwrap();
        std::fs::copy(&renewed.key, &files.key).unwrap();
        tls.reload().unwrap();
        let second = served(&tls);
        assert_ne!(first, second);
        // A certificate with another's key is refused, and the current one stays.
        let other = write_pair(dir.path(), "other");
        std::fs::copy(&other.key, &files.key).unwrap();
        let err = tls.reload().unwrap_err();
        assert!(matches!(err, ApiTlsError::Key { .. }), "{err}");
        assert_eq!(served(&tls), second);
    }

    #[test]
    fn missing_or_empty_files_are_typed_errors() {
        let dir = tempfile::tempdir().unwrap();
        let files = ApiTlsFiles {
            cert: dir.path().join("none.pem"),
            key: dir.path().join("none.key"),
        };
        assert!(matches!(
            ApiTls::load(files.clone()),
            Err(ApiTlsError::Pem { .. })
        ));
        std::fs::write(&files.cert, "").unwrap();
        assert!(matches!(ApiTls::load(files), Err(ApiTlsError::Pem { .. })));
    }
}
