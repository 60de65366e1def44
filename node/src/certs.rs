//! The cluster CA and node certificates behind node-to-node mutual TLS.
//!
//! `init_cluster` makes a CA and the first node's certificate; `issue_node_cert` signs more
//! node certificates with that CA. Every node certificate carries two DNS names: the node's
//! own name and [`PEER_SERVER_NAME`], the one name every peer dials, so a node's address can
//! change without reissuing its certificate.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::client::danger::ServerCertVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The TLS server name every node certificate holds and every peer connection verifies.
pub const PEER_SERVER_NAME: &str = "tessera-node";

/// Subject of the cluster CA; `issue_node_cert` rebuilds the CA's issuer fields from it.
const CA_COMMON_NAME: &str = "Tessera cluster CA";

/// File names inside a certificate directory.
const CA_CERT_FILE: &str = "ca.pem";
const CA_KEY_FILE: &str = "ca.key";

/// Why a certificate could not be made or issued.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// A file could not be read, written or created.
    #[error("{path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying failure.
        source: std::io::Error,
    },
    /// A key or certificate already exists; it is never overwritten.
    #[error("{0} already exists; refusing to overwrite it")]
    AlreadyExists(PathBuf),
    /// The node name cannot be used as a DNS name and file name.
    #[error("invalid node name {0:?}: use 1-63 characters of a-z, 0-9 and '-', not starting or ending with '-'")]
    InvalidName(String),
    /// A PEM file is malformed or holds no item of the expected kind.
    #[error("{path}: {source}")]
    Pem {
        /// The file concerned.
        path: PathBuf,
        /// What is wrong with it.
        source: rustls_pki_types::pem::Error,
    },
    /// Key generation or signing failed.
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    /// The CA key does not match the CA certificate (the issued certificate does not verify).
    #[error("the CA key does not match {path}: {reason}")]
    CaMismatch {
        /// The CA certificate.
        path: PathBuf,
        /// The verifier's complaint.
        reason: String,
    },
}

/// Paths of one node's identity: the CA certificate, the node certificate and its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeIdentityFiles {
    /// `ca.pem`: the cluster CA certificate, the only trust root for peers.
    pub ca_cert: PathBuf,
    /// `<name>.pem`: the node certificate.
    pub cert: PathBuf,
    /// `<name>.key`: the node private key (mode 0600).
    pub key: PathBuf,
}

impl NodeIdentityFiles {
    /// The files `<dir>/ca.pem`, `<dir>/<name>.pem`, `<dir>/<name>.key`.
    pub fn in_dir(dir: &Path, name: &str) -> Self {
        Self {
            ca_cert: dir.join(CA_CERT_FILE),
            cert: dir.join(format!("{name}.pem")),
            key: dir.join(format!("{name}.key")),
        }
    }
}

/// Makes a new cluster CA in `dir` (`ca.pem`, `ca.key`) and the certificate of the first node.
///
/// Refuses to overwrite any existing file, so a second `init` cannot orphan a running cluster.
pub fn init_cluster(dir: &Path, first_node_name: &str) -> Result<NodeIdentityFiles, CertError> {
    validate_name(first_node_name)?;
    let ca_cert_path = dir.join(CA_CERT_FILE);
    let ca_key_path = dir.join(CA_KEY_FILE);
    let node = NodeIdentityFiles::in_dir(dir, first_node_name);
    // Check everything up front so a refusal leaves no half-made cluster behind.
    for path in [&ca_cert_path, &ca_key_path, &node.cert, &node.key] {
        if path.exists() {
            return Err(CertError::AlreadyExists(path.clone()));
        }
    }
    std::fs::create_dir_all(dir).map_err(|source| CertError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let ca_key = KeyPair::generate()?;
    let ca_cert = ca_params().self_signed(&ca_key)?;
    write_new(&ca_key_path, ca_key.serialize_pem().as_bytes(), true)?;
    write_new(&ca_cert_path, ca_cert.pem().as_bytes(), false)?;
    sign_node(&ca_cert, &ca_key, first_node_name, &node)?;
    Ok(node)
}

/// Signs a certificate for node `name` with the CA in `ca_dir`, writing it to `out_dir`.
///
/// `out_dir` also gets a copy of `ca.pem` (never `ca.key`), so it is a complete node identity.
pub fn issue_node_cert(
    ca_dir: &Path,
    name: &str,
    out_dir: &Path,
) -> Result<NodeIdentityFiles, CertError> {
    validate_name(name)?;
    let ca_cert_path = ca_dir.join(CA_CERT_FILE);
    let ca_key_path = ca_dir.join(CA_KEY_FILE);
    let ca_pem = read(&ca_cert_path)?;
    let ca_der = CertificateDer::from_pem_slice(&ca_pem).map_err(|source| CertError::Pem {
        path: ca_cert_path.clone(),
        source,
    })?;
    let ca_key_pem = String::from_utf8(read(&ca_key_path)?).map_err(|_| CertError::Pem {
        path: ca_key_path.clone(),
        source: rustls_pki_types::pem::Error::NoItemsFound,
    })?;
    let ca_key = KeyPair::from_pem(&ca_key_pem)?;
    let node = NodeIdentityFiles::in_dir(out_dir, name);
    for path in [&node.cert, &node.key] {
        if path.exists() {
            return Err(CertError::AlreadyExists(path.clone()));
        }
    }
    if node.ca_cert.exists() {
        // Same directory, or a copy made earlier: it must be this very CA.
        if read(&node.ca_cert)? != ca_pem {
            return Err(CertError::AlreadyExists(node.ca_cert.clone()));
        }
    } else {
        std::fs::create_dir_all(out_dir).map_err(|source| CertError::Io {
            path: out_dir.to_path_buf(),
            source,
        })?;
        write_new(&node.ca_cert, &ca_pem, false)?;
    }
    // rcgen cannot parse a certificate back (that needs x509-parser), so the issuer is rebuilt
    // from the fixed CA parameters and the CA key; the result is checked against ca.pem below.
    let issuer = ca_params().self_signed(&ca_key)?;
    let cert_der = sign_node(&issuer, &ca_key, name, &node)?;
    verify_against_ca(&ca_der, &cert_der).map_err(|reason| {
        // Do not leave an unusable certificate around.
        let _ = std::fs::remove_file(&node.cert);
        let _ = std::fs::remove_file(&node.key);
        CertError::CaMismatch {
            path: ca_cert_path.clone(),
            reason,
        }
    })?;
    Ok(node)
}

/// Parameters of the cluster CA; deterministic so that the issuer can be rebuilt.
fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, CA_COMMON_NAME);
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

/// Makes, signs and writes a node key and certificate; returns the certificate.
fn sign_node(
    issuer: &rcgen::Certificate,
    issuer_key: &KeyPair,
    name: &str,
    files: &NodeIdentityFiles,
) -> Result<CertificateDer<'static>, CertError> {
    let mut params = CertificateParams::new(vec![name.to_string(), PEER_SERVER_NAME.to_string()])?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    params.distinguished_name = dn;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    // One certificate serves both ends of a peer connection.
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.use_authority_key_identifier_extension = true;
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, issuer, issuer_key)?;
    write_new(&files.key, key.serialize_pem().as_bytes(), true)?;
    write_new(&files.cert, cert.pem().as_bytes(), false)?;
    Ok(cert.der().clone())
}

/// Checks that `cert` chains to `ca` for [`PEER_SERVER_NAME`], as a peer would.
fn verify_against_ca(ca: &CertificateDer<'_>, cert: &CertificateDer<'_>) -> Result<(), String> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(ca.clone().into_owned())
        .map_err(|e| e.to_string())?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier =
        rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| e.to_string())?;
    let server_name = ServerName::try_from(PEER_SERVER_NAME).map_err(|e| e.to_string())?;
    verifier
        .verify_server_cert(cert, &[], &server_name, &[], UnixTime::now())
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Node names become DNS SANs and file names: keep them to one lowercase DNS label.
fn validate_name(name: &str) -> Result<(), CertError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && !name.starts_with('-')
        && !name.ends_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        // `ca` would collide with the CA's own files.
        && name != "ca";
    if ok {
        Ok(())
    } else {
        Err(CertError::InvalidName(name.to_string()))
    }
}

fn read(path: &Path) -> Result<Vec<u8>, CertError> {
    std::fs::read(path).map_err(|source| CertError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Creates `path` (never overwriting); private keys are created with mode 0600 from the start.
fn write_new(path: &Path, contents: &[u8], private: bool) -> Result<(), CertError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if private { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = private;
    let io_err = |source: std::io::Error| {
        if source.kind() == std::io::ErrorKind::AlreadyExists {
            CertError::AlreadyExists(path.to_path_buf())
        } else {
            CertError::Io {
                path: path.to_path_buf(),
                source,
            }
        }
    };
    let mut file = options.open(path).map_err(io_err)?;
    file.write_all(contents).map_err(io_err)?;
    file.sync_all().map_err(io_err)
}

/// `tessera cluster init|cert`: certificate management for the node-to-node network.
// The field docs are `--help` text, where `<node>` reads as a placeholder, not HTML.
#[allow(rustdoc::invalid_html_tags)]
#[derive(Debug, clap::Subcommand)]
pub enum CertCommand {
    /// Create a cluster CA and the first node's certificate.
    Init {
        /// Directory for ca.pem, ca.key, <node>.pem and <node>.key.
        #[arg(long)]
        dir: PathBuf,
        /// Name of the first node.
        #[arg(long, default_value = "node1")]
        node: String,
    },
    /// Sign a certificate for another node with the cluster CA.
    Cert {
        /// Directory holding ca.pem and ca.key.
        #[arg(long)]
        ca: PathBuf,
        /// Name of the node.
        #[arg(long)]
        node: String,
        /// Where to write <node>.pem, <node>.key and a copy of ca.pem (default: the CA dir).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// Runs `tessera cluster init|cert`, printing what it wrote.
pub fn run_cert_command(command: CertCommand) -> std::process::ExitCode {
    let result = match command {
        CertCommand::Init { dir, node } => init_cluster(&dir, &node),
        CertCommand::Cert { ca, node, out } => {
            let out = out.unwrap_or_else(|| ca.clone());
            issue_node_cert(&ca, &node, &out)
        }
    };
    match result {
        Ok(files) => {
            println!("ca certificate:   {}", files.ca_cert.display());
            println!("node certificate: {}", files.cert.display());
            println!("node key:         {}", files.key.display());
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tessera: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_writes_ca_and_first_node_with_private_keys() {
        let dir = tempfile::tempdir().unwrap();
        let files = init_cluster(dir.path(), "node1").unwrap();
        assert_eq!(files, NodeIdentityFiles::in_dir(dir.path(), "node1"));
        for name in ["ca.pem", "ca.key", "node1.pem", "node1.key"] {
            assert!(dir.path().join(name).is_file(), "{name} missing");
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for name in ["ca.key", "node1.key"] {
                let mode = std::fs::metadata(dir.path().join(name))
                    .unwrap()
                    .permissions()
                    .mode();
                assert_eq!(mode & 0o777, 0o600, "{name}");
            }
        }
        let ca = CertificateDer::from_pem_file(&files.ca_cert).unwrap();
        let cert = CertificateDer::from_pem_file(&files.cert).unwrap();
        verify_against_ca(&ca, &cert).unwrap();
    }

    #[test]
    fn init_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        init_cluster(dir.path(), "node1").unwrap();
        let before = std::fs::read(dir.path().join("ca.key")).unwrap();
        let err = init_cluster(dir.path(), "other").unwrap_err();
        assert!(matches!(err, CertError::AlreadyExists(_)), "{err}");
        assert_eq!(std::fs::read(dir.path().join("ca.key")).unwrap(), before);
        assert!(!dir.path().join("other.pem").exists());
    }

    #[test]
    fn issued_cert_chains_to_the_ca_and_out_dir_is_complete() {
        let ca_dir = tempfile::tempdir().unwrap();
        let out_dir = tempfile::tempdir().unwrap();
        init_cluster(ca_dir.path(), "node1").unwrap();
        let files = issue_node_cert(ca_dir.path(), "node2", out_dir.path()).unwrap();
        assert!(!out_dir.path().join("ca.key").exists());
        assert_eq!(
            std::fs::read(&files.ca_cert).unwrap(),
            std::fs::read(ca_dir.path().join("ca.pem")).unwrap()
        );
        let ca = CertificateDer::from_pem_file(&files.ca_cert).unwrap();
        let cert = CertificateDer::from_pem_file(&files.cert).unwrap();
        verify_against_ca(&ca, &cert).unwrap();
        // Issuing into the CA directory itself works too.
        issue_node_cert(ca_dir.path(), "node3", ca_dir.path()).unwrap();
        let err = issue_node_cert(ca_dir.path(), "node3", ca_dir.path()).unwrap_err();
        assert!(matches!(err, CertError::AlreadyExists(_)), "{err}");
    }

    #[test]
    fn cert_from_another_ca_does_not_verify() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        init_cluster(a.path(), "node1").unwrap();
        init_cluster(b.path(), "node1").unwrap();
        let ca_a = CertificateDer::from_pem_file(a.path().join("ca.pem")).unwrap();
        let cert_b = CertificateDer::from_pem_file(b.path().join("node1.pem")).unwrap();
        assert!(verify_against_ca(&ca_a, &cert_b).is_err());
    }

    #[test]
    fn mismatched_ca_key_is_detected() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        init_cluster(a.path(), "node1").unwrap();
        init_cluster(b.path(), "node1").unwrap();
        // ca.pem from A with ca.key from B.
        std::fs::remove_file(a.path().join("ca.key")).unwrap();
        std::fs::copy(b.path().join("ca.key"), a.path().join("ca.key")).unwrap();
        let err = issue_node_cert(a.path(), "node2", a.path()).unwrap_err();
        assert!(matches!(err, CertError::CaMismatch { .. }), "{err}");
        assert!(!a.path().join("node2.pem").exists());
    }

    #[test]
    fn bad_names_and_missing_ca_are_typed_errors() {
        let dir = tempfile::tempdir().unwrap();
        for bad in ["", "Node1", "a/b", "-x", "x-", "ca", &"x".repeat(64)] {
            assert!(
                matches!(
                    init_cluster(dir.path(), bad),
                    Err(CertError::InvalidName(_))
                ),
                "{bad:?}"
            );
        }
        let err = issue_node_cert(dir.path(), "node2", dir.path()).unwrap_err();
        assert!(matches!(err, CertError::Io { .. }), "{err}");
    }
}
