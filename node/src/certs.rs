//! The cluster CA and node certificates behind node-to-node mutual TLS.
//!
//! `init_cluster` makes a CA and the first node's certificate; `issue_node_cert` signs more
//! node certificates with that CA. Every node certificate carries two DNS names: the node's
//! own name and [`PEER_SERVER_NAME`], the one name every peer dials, so a node's address can
//! change without reissuing its certificate; and one URI name, `tessera://node/<id>`, its Raft
//! node id, which peers check every call against (`identity_of`). A URI rather than a DNS name
//! because an id is not a host: it can never be mistaken for, or collide with, a name a peer
//! dials, and the scheme says whose it is.
//!
//! The CA key lives in a directory of its own (`<certs>-ca` by default), never beside the
//! node keys that are copied to every host; `check_node_dir` refuses a certs dir holding one.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};
use rustls::client::danger::ServerCertVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The TLS server name every node certificate holds and every peer connection verifies.
pub const PEER_SERVER_NAME: &str = "tessera-node";

/// The URI name of a node certificate, before the node id.
const NODE_URI_PREFIX: &str = "tessera://node/";

/// Validity of a node certificate unless `--days` says otherwise.
pub const DEFAULT_CERT_DAYS: u32 = 365;

/// How far back a new certificate's validity starts, for peers whose clocks lag a little.
const CLOCK_SKEW: time::Duration = time::Duration::minutes(5);

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
    /// The certificates directory holds the CA key, which must stay off node hosts.
    #[error(
        "{0} holds the cluster CA key: move it away from the node keys (or pass --allow-ca-key)"
    )]
    CaKeyBesideNodeKeys(PathBuf),
    /// The node's own certificate cannot serve it: wrong node id, expired, or not from the CA.
    #[error("{path}: {reason}")]
    Unusable {
        /// The node certificate.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A validity of zero days.
    #[error("--days must be at least 1")]
    NoValidity,
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

/// What a node certificate says about its holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeCert {
    /// The node's name (its DNS name and file name).
    pub name: String,
    /// The Raft node id it proves.
    pub id: u64,
    /// Days from now until it expires.
    pub days: u32,
}

/// The CA directory `init` uses unless told otherwise: `<certs>-ca`, beside the certs dir.
pub fn default_ca_dir(certs_dir: &Path) -> PathBuf {
    let mut name = certs_dir
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "certs".into());
    name.push("-ca");
    certs_dir.with_file_name(name)
}

/// Makes a new cluster CA in `ca_dir` (`ca.pem`, `ca.key`) and the certificate of the first
/// node in `dir` (with a copy of `ca.pem`); `ca_dir` must differ from `dir`.
///
/// Refuses to overwrite any existing file, so a second `init` cannot orphan a running cluster.
pub fn init_cluster(
    dir: &Path,
    ca_dir: &Path,
    first: &NodeCert,
) -> Result<NodeIdentityFiles, CertError> {
    validate_name(&first.name)?;
    let ca_cert_path = ca_dir.join(CA_CERT_FILE);
    let ca_key_path = ca_dir.join(CA_KEY_FILE);
    let node = NodeIdentityFiles::in_dir(dir, &first.name);
    // Check everything up front so a refusal leaves no half-made cluster behind.
    for path in [
        &ca_cert_path,
        &ca_key_path,
        &node.ca_cert,
        &node.cert,
        &node.key,
    ] {
        if path.exists() {
            return Err(CertError::AlreadyExists(path.clone()));
        }
    }
    if first.days == 0 {
        return Err(CertError::NoValidity);
    }
    for d in [ca_dir, dir] {
        create_dir(d)?;
    }
    let ca_key = KeyPair::generate()?;
    let ca_cert = ca_params().self_signed(&ca_key)?;
    write_new(&ca_key_path, ca_key.serialize_pem().as_bytes(), true)?;
    write_new(&ca_cert_path, ca_cert.pem().as_bytes(), false)?;
    write_new(&node.ca_cert, ca_cert.pem().as_bytes(), false)?;
    let now = time::OffsetDateTime::now_utc();
    let validity = (
        now - CLOCK_SKEW,
        now + time::Duration::days(first.days.into()),
    );
    sign_node(&ca_cert, &ca_key, first, validity, &node)?;
    Ok(node)
}

/// Signs a certificate for `node` with the CA in `ca_dir`, writing it to `out_dir`.
///
/// `out_dir` also gets a copy of `ca.pem` (never `ca.key`), so it is a complete node identity.
pub fn issue_node_cert(
    ca_dir: &Path,
    node: &NodeCert,
    out_dir: &Path,
) -> Result<NodeIdentityFiles, CertError> {
    if node.days == 0 {
        return Err(CertError::NoValidity);
    }
    let now = time::OffsetDateTime::now_utc();
    let validity = (
        now - CLOCK_SKEW,
        now + time::Duration::days(node.days.into()),
    );
    issue_with_validity(ca_dir, node, validity, out_dir)
}

/// [`issue_node_cert`] for an explicit validity window (tests make expired certificates).
pub(crate) fn issue_with_validity(
    ca_dir: &Path,
    cert: &NodeCert,
    validity: (time::OffsetDateTime, time::OffsetDateTime),
    out_dir: &Path,
) -> Result<NodeIdentityFiles, CertError> {
    let name = cert.name.as_str();
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
        create_dir(out_dir)?;
        write_new(&node.ca_cert, &ca_pem, false)?;
    }
    // rcgen cannot parse a certificate back (that needs x509-parser), so the issuer is rebuilt
    // from the fixed CA parameters and the CA key; the result is checked against ca.pem below.
    let issuer = ca_params().self_signed(&ca_key)?;
    let cert_der = sign_node(&issuer, &ca_key, cert, validity, &node)?;
    // Checked at the start of the window: an expired certificate (made by tests) still
    // proves the key matches.
    let at = UnixTime::since_unix_epoch(std::time::Duration::from_secs(
        u64::try_from(validity.0.unix_timestamp()).unwrap_or(0) + 60,
    ));
    verify_against_ca_at(&ca_der, &cert_der, at).map_err(|reason| {
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
    node: &NodeCert,
    (not_before, not_after): (time::OffsetDateTime, time::OffsetDateTime),
    files: &NodeIdentityFiles,
) -> Result<CertificateDer<'static>, CertError> {
    let mut params = CertificateParams::new(vec![node.name.clone(), PEER_SERVER_NAME.to_string()])?;
    params.subject_alt_names.push(SanType::URI(
        format!("{NODE_URI_PREFIX}{}", node.id).try_into()?,
    ));
    params.not_before = not_before;
    params.not_after = not_after;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, node.name.as_str());
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

/// The node a verified peer certificate proves, and the certificate's fingerprint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CertIdentity {
    /// The Raft node id in its `tessera://node/<id>` name.
    pub node: u64,
    /// SHA-256 of the certificate's DER: names this one certificate (for revocation).
    pub fingerprint: [u8; 32],
}

impl CertIdentity {
    /// The fingerprint as lowercase hex, as `tessera cluster revoke --cert` prints it.
    pub fn fingerprint_hex(&self) -> String {
        hex::encode(self.fingerprint)
    }
}

/// Reads the node id out of a certificate: its one `tessera://node/<id>` URI name.
///
/// Call it only on a certificate the TLS layer has verified against the cluster CA.
pub fn identity_of(cert: &CertificateDer<'_>) -> Result<CertIdentity, String> {
    let parsed = webpki::EndEntityCert::try_from(cert)
        .map_err(|e| format!("unparsable certificate: {e}"))?;
    let mut ids = parsed
        .valid_uri_names()
        .filter_map(|uri| uri.strip_prefix(NODE_URI_PREFIX));
    let id = match (ids.next(), ids.next()) {
        (Some(id), None) => id,
        (None, _) => return Err("certificate names no node (no tessera://node/ URI)".into()),
        (Some(_), Some(_)) => return Err("certificate names more than one node".into()),
    };
    let node = id
        .parse()
        .map_err(|_| format!("certificate names a bad node id {id:?}"))?;
    Ok(CertIdentity {
        node,
        fingerprint: Sha256::digest(cert.as_ref()).into(),
    })
}

/// SHA-256 fingerprint (hex) of the first certificate in a PEM file.
pub fn fingerprint_file(path: &Path) -> Result<String, CertError> {
    let der = CertificateDer::from_pem_file(path).map_err(|source| CertError::Pem {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(hex::encode(Sha256::digest(der.as_ref())))
}

/// Checks a node's certs dir before it serves: no CA key there (unless `allow_ca_key`), and
/// its certificate chains to `ca.pem`, is valid now and names node `node_id`.
pub fn check_node_dir(
    files: &NodeIdentityFiles,
    node_id: u64,
    allow_ca_key: bool,
) -> Result<(), CertError> {
    if let Some(dir) = files.ca_cert.parent() {
        if !allow_ca_key && dir.join(CA_KEY_FILE).exists() {
            return Err(CertError::CaKeyBesideNodeKeys(dir.to_path_buf()));
        }
    }
    let pem = |path: &PathBuf| {
        let path = path.clone();
        move |source| CertError::Pem { path, source }
    };
    let ca = CertificateDer::from_pem_file(&files.ca_cert).map_err(pem(&files.ca_cert))?;
    let cert = CertificateDer::from_pem_file(&files.cert).map_err(pem(&files.cert))?;
    let unusable = |reason: String| CertError::Unusable {
        path: files.cert.clone(),
        reason,
    };
    verify_against_ca_at(&ca, &cert, UnixTime::now()).map_err(unusable)?;
    let identity = identity_of(&cert).map_err(unusable)?;
    if identity.node != node_id {
        return Err(unusable(format!(
            "the certificate is node {}'s, but this is node {node_id} (--node-id)",
            identity.node
        )));
    }
    Ok(())
}

/// Checks that `cert` chains to `ca` for [`PEER_SERVER_NAME`] now, as a peer would.
#[cfg(test)]
fn verify_against_ca(ca: &CertificateDer<'_>, cert: &CertificateDer<'_>) -> Result<(), String> {
    verify_against_ca_at(ca, cert, UnixTime::now())
}

/// Checks that `cert` chains to `ca` for [`PEER_SERVER_NAME`] at time `at`.
fn verify_against_ca_at(
    ca: &CertificateDer<'_>,
    cert: &CertificateDer<'_>,
    at: UnixTime,
) -> Result<(), String> {
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
        .verify_server_cert(cert, &[], &server_name, &[], at)
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

fn create_dir(dir: &Path) -> Result<(), CertError> {
    std::fs::create_dir_all(dir).map_err(|source| CertError::Io {
        path: dir.to_path_buf(),
        source,
    })
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
        /// Directory for <node>.pem, <node>.key and a copy of ca.pem (what a node's --certs
        /// names).
        #[arg(long)]
        dir: PathBuf,
        /// Directory for the CA (ca.pem and ca.key), kept off node hosts [default: <dir>-ca].
        #[arg(long)]
        ca_dir: Option<PathBuf>,
        /// Name of the first node.
        #[arg(long, default_value = "node1")]
        node: String,
        /// The first node's Raft node id (its --node-id), which the certificate proves.
        #[arg(long, default_value_t = 1)]
        id: u64,
        /// Days the node certificate is valid.
        #[arg(long, default_value_t = DEFAULT_CERT_DAYS)]
        days: u32,
    },
    /// Sign a certificate for a node (a new one, or a renewal) with the cluster CA.
    Cert {
        /// Directory holding ca.pem and ca.key.
        #[arg(long)]
        ca: PathBuf,
        /// Name of the node.
        #[arg(long)]
        node: String,
        /// The node's Raft node id (its --node-id), which the certificate proves.
        #[arg(long)]
        id: u64,
        /// Days the certificate is valid.
        #[arg(long, default_value_t = DEFAULT_CERT_DAYS)]
        days: u32,
        /// Where to write <node>.pem, <node>.key and a copy of ca.pem.
        #[arg(long)]
        out: PathBuf,
    },
}

/// Runs `tessera cluster init|cert`, printing what it wrote.
pub fn run_cert_command(command: CertCommand) -> std::process::ExitCode {
    let result = match command {
        CertCommand::Init {
            dir,
            ca_dir,
            node,
            id,
            days,
        } => {
            let ca_dir = ca_dir.unwrap_or_else(|| default_ca_dir(&dir));
            init_cluster(
                &dir,
                &ca_dir,
                &NodeCert {
                    name: node,
                    id,
                    days,
                },
            )
            .inspect(|_| println!("ca key:           {}", ca_dir.join(CA_KEY_FILE).display()))
        }
        CertCommand::Cert {
            ca,
            node,
            id,
            days,
            out,
        } => issue_node_cert(
            &ca,
            &NodeCert {
                name: node,
                id,
                days,
            },
            &out,
        ),
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

    pub(crate) fn node(name: &str, id: u64) -> NodeCert {
        NodeCert {
            name: name.into(),
            id,
            days: DEFAULT_CERT_DAYS,
        }
    }

    /// A CA in `<root>/ca` and node1's files in `<root>/certs`.
    fn init(root: &Path) -> NodeIdentityFiles {
        init_cluster(&root.join("certs"), &root.join("ca"), &node("node1", 1)).unwrap()
    }

    #[test]
    fn init_writes_ca_apart_from_the_first_node_with_private_keys() {
        let root = tempfile::tempdir().unwrap();
        let files = init(root.path());
        let (certs, ca) = (root.path().join("certs"), root.path().join("ca"));
        assert_eq!(files, NodeIdentityFiles::in_dir(&certs, "node1"));
        for path in [ca.join("ca.pem"), ca.join("ca.key"), files.ca_cert.clone()] {
            assert!(path.is_file(), "{} missing", path.display());
        }
        assert!(!certs.join("ca.key").exists(), "the CA key stays apart");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for path in [ca.join("ca.key"), files.key.clone()] {
                let mode = std::fs::metadata(&path).unwrap().permissions().mode();
                assert_eq!(mode & 0o777, 0o600, "{}", path.display());
            }
        }
        let ca = CertificateDer::from_pem_file(&files.ca_cert).unwrap();
        let cert = CertificateDer::from_pem_file(&files.cert).unwrap();
        verify_against_ca(&ca, &cert).unwrap();
        check_node_dir(&files, 1, false).unwrap();
    }

    #[test]
    fn default_ca_dir_is_a_sibling() {
        assert_eq!(
            default_ca_dir(Path::new("/etc/tessera/certs")),
            Path::new("/etc/tessera/certs-ca")
        );
    }

    #[test]
    fn init_refuses_to_overwrite() {
        let root = tempfile::tempdir().unwrap();
        init(root.path());
        let key = root.path().join("ca/ca.key");
        let before = std::fs::read(&key).unwrap();
        let err = init_cluster(
            &root.path().join("certs"),
            &root.path().join("ca"),
            &node("other", 2),
        )
        .unwrap_err();
        assert!(matches!(err, CertError::AlreadyExists(_)), "{err}");
        assert_eq!(std::fs::read(&key).unwrap(), before);
        assert!(!root.path().join("certs/other.pem").exists());
    }

    #[test]
    fn issued_cert_chains_to_the_ca_names_its_node_and_out_dir_is_complete() {
        let root = tempfile::tempdir().unwrap();
        let out_dir = tempfile::tempdir().unwrap();
        init(root.path());
        let ca_dir = root.path().join("ca");
        let files = issue_node_cert(&ca_dir, &node("node2", 2), out_dir.path()).unwrap();
        assert!(!out_dir.path().join("ca.key").exists());
        assert_eq!(
            std::fs::read(&files.ca_cert).unwrap(),
            std::fs::read(ca_dir.join("ca.pem")).unwrap()
        );
        let ca = CertificateDer::from_pem_file(&files.ca_cert).unwrap();
        let cert = CertificateDer::from_pem_file(&files.cert).unwrap();
        verify_against_ca(&ca, &cert).unwrap();
        let id = identity_of(&cert).unwrap();
        assert_eq!(id.node, 2);
        assert_eq!(id.fingerprint_hex(), fingerprint_file(&files.cert).unwrap());
        check_node_dir(&files, 2, false).unwrap();
        let err = issue_node_cert(&ca_dir, &node("node2", 2), out_dir.path()).unwrap_err();
        assert!(matches!(err, CertError::AlreadyExists(_)), "{err}");
    }

    #[test]
    fn a_node_refuses_a_certificate_of_another_node() {
        let root = tempfile::tempdir().unwrap();
        init(root.path());
        let files = issue_node_cert(
            &root.path().join("ca"),
            &node("node4", 4),
            &root.path().join("certs"),
        )
        .unwrap();
        let err = check_node_dir(&files, 2, false).unwrap_err();
        assert!(err.to_string().contains("node 4's"), "{err}");
    }

    #[test]
    fn a_certs_dir_holding_the_ca_key_is_refused_unless_allowed() {
        let root = tempfile::tempdir().unwrap();
        init(root.path());
        let ca_dir = root.path().join("ca");
        // The old layout: node keys issued into the CA's own directory.
        let files = issue_node_cert(&ca_dir, &node("node2", 2), &ca_dir).unwrap();
        let err = check_node_dir(&files, 2, false).unwrap_err();
        assert!(matches!(err, CertError::CaKeyBesideNodeKeys(_)), "{err}");
        check_node_dir(&files, 2, true).unwrap();
    }

    #[test]
    fn validity_follows_days_and_an_expired_certificate_is_refused() {
        let root = tempfile::tempdir().unwrap();
        init(root.path());
        let (ca_dir, certs) = (root.path().join("ca"), root.path().join("certs"));
        let short = NodeCert {
            days: 2,
            ..node("node2", 2)
        };
        let files = issue_node_cert(&ca_dir, &short, &certs).unwrap();
        let ca = CertificateDer::from_pem_file(&files.ca_cert).unwrap();
        let cert = CertificateDer::from_pem_file(&files.cert).unwrap();
        let secs = |d: time::Duration| {
            let t = time::OffsetDateTime::now_utc() + d;
            UnixTime::since_unix_epoch(std::time::Duration::from_secs(t.unix_timestamp() as u64))
        };
        verify_against_ca_at(&ca, &cert, secs(time::Duration::hours(47))).unwrap();
        let later = verify_against_ca_at(&ca, &cert, secs(time::Duration::hours(49)));
        assert!(later.unwrap_err().contains("xpired"));
        let zero = NodeCert {
            days: 0,
            ..node("node3", 3)
        };
        assert!(matches!(
            issue_node_cert(&ca_dir, &zero, &certs),
            Err(CertError::NoValidity)
        ));
        let now = time::OffsetDateTime::now_utc();
        let past = (now - time::Duration::days(3), now - time::Duration::days(1));
        let files = issue_with_validity(&ca_dir, &node("node5", 5), past, &certs).unwrap();
        let err = check_node_dir(&files, 5, false).unwrap_err();
        assert!(matches!(err, CertError::Unusable { .. }), "{err}");
    }

    #[test]
    fn a_certificate_without_a_node_name_has_no_identity() {
        let key = KeyPair::generate().unwrap();
        let bare = CertificateParams::new(vec![PEER_SERVER_NAME.to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        assert!(identity_of(bare.der())
            .unwrap_err()
            .contains("names no node"));
    }

    #[test]
    fn cert_from_another_ca_does_not_verify() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        init(a.path());
        let other = init(b.path());
        let ca_a = CertificateDer::from_pem_file(a.path().join("ca/ca.pem")).unwrap();
        let cert_b = CertificateDer::from_pem_file(&other.cert).unwrap();
        assert!(verify_against_ca(&ca_a, &cert_b).is_err());
    }

    #[test]
    fn mismatched_ca_key_is_detected() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        init(a.path());
        init(b.path());
        // ca.pem from A with ca.key from B.
        let key = a.path().join("ca/ca.key");
        std::fs::remove_file(&key).unwrap();
        std::fs::copy(b.path().join("ca/ca.key"), &key).unwrap();
        let out = a.path().join("certs");
        let err = issue_node_cert(&a.path().join("ca"), &node("node2", 2), &out).unwrap_err();
        assert!(matches!(err, CertError::CaMismatch { .. }), "{err}");
        assert!(!out.join("node2.pem").exists());
    }

    #[test]
    fn bad_names_and_missing_ca_are_typed_errors() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca");
        for bad in ["", "Node1", "a/b", "-x", "x-", "ca", &"x".repeat(64)] {
            assert!(
                matches!(
                    init_cluster(dir.path(), &ca, &node(bad, 1)),
                    Err(CertError::InvalidName(_))
                ),
                "{bad:?}"
            );
        }
        let err = issue_node_cert(dir.path(), &node("node2", 2), dir.path()).unwrap_err();
        assert!(matches!(err, CertError::Io { .. }), "{err}");
    }
}
