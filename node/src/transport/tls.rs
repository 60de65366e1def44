//! Mutual TLS for peer connections: only certificates signed by the cluster CA get in.

use super::error::TlsError;
use crate::certs::NodeIdentityFiles;
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;

/// ALPN of the node-to-node protocol; a mismatch fails the handshake instead of a later frame.
const ALPN: &[u8] = b"tessera-peer/1";

/// The TLS side of a node's identity: server and client configurations for QUIC.
#[derive(Clone)]
pub struct PeerTls {
    pub(crate) server: Arc<QuicServerConfig>,
    pub(crate) client: Arc<QuicClientConfig>,
}

impl std::fmt::Debug for PeerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PeerTls { .. }")
    }
}

impl PeerTls {
    /// Loads `ca.pem`, `<name>.pem` and `<name>.key` as written by `certs`.
    pub fn from_files(files: &NodeIdentityFiles) -> Result<Self, TlsError> {
        let pem_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| TlsError::Pem { path, source }
        };
        let ca = CertificateDer::pem_file_iter(&files.ca_cert)
            .map_err(pem_err(&files.ca_cert))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(pem_err(&files.ca_cert))?;
        let chain = CertificateDer::pem_file_iter(&files.cert)
            .map_err(pem_err(&files.cert))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(pem_err(&files.cert))?;
        let key = PrivateKeyDer::from_pem_file(&files.key).map_err(pem_err(&files.key))?;
        Self::new(ca, chain, key)
    }

    /// Builds both configurations from DER: trust roots (the cluster CA), own chain and key.
    pub fn new(
        ca: Vec<CertificateDer<'static>>,
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<Self, TlsError> {
        if ca.is_empty() {
            return Err(TlsError::BadCa("no CA certificate".into()));
        }
        let mut roots = rustls::RootCertStore::empty();
        for cert in ca {
            roots
                .add(cert)
                .map_err(|e| TlsError::BadCa(e.to_string()))?;
        }
        let roots = Arc::new(roots);
        // ring only: one crypto provider for the whole binary, no aws-lc build dependency.
        let provider = Arc::new(rustls::crypto::ring::default_provider());

        // `build()` without `allow_unauthenticated()`: a client certificate is mandatory.
        let client_verifier =
            WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone()).build()?;
        let mut server = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_client_cert_verifier(client_verifier)
            .with_single_cert(chain.clone(), key.clone_key())?;
        server.alpn_protocols = vec![ALPN.to_vec()];
        // Peers reconnect rarely; 0-RTT replays are not worth the risk for Raft and metadata.
        server.max_early_data_size = 0;

        let mut client = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)?;
        client.alpn_protocols = vec![ALPN.to_vec()];

        Ok(Self {
            server: Arc::new(QuicServerConfig::try_from(server)?),
            client: Arc::new(QuicClientConfig::try_from(client)?),
        })
    }
}
