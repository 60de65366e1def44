//! The `swift` and `s3` store drivers against a real Swift 2.30 on loopback
//! (`../shared/peer/swift/saio.sh`: one replica, tempauth, s3api), started and stopped here
//! under `/tmp/tessera-swift.lock`. Skipped, saying why, only when Swift cannot be started.
//! The checks run in order in one test: they share the one Swift and its memcached.
//!
//! `swift_with_keystone_v3` runs the `swift` driver with `auth_version = 3` against a real
//! Keystone 30 (`../shared/peer/tempest/keystone.sh` on 127.0.0.1:5000, started unless it is
//! running) and a second proxy on the SAIO whose pipeline has `authtoken` + `keystoneauth`
//! instead of tempauth. Run it under `flock /tmp/tessera-keystone.lock` when others may be
//! using that Keystone; it takes the Swift lock itself (Keystone first, then Swift).
//!
//! `cargo test -p tessera-node --test object_stores -- --ignored --nocapture` also runs the
//! 1 GiB throughput figures (`make bench-stores`).

// Helpers outside #[test] functions unwrap too: a failure there is the test failing.
#![allow(clippy::unwrap_used)]

use std::fs::File;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use fs2::FileExt;
use futures::{StreamExt, TryStreamExt};
use serde_json::{json, Value};
use tessera_domain::stores::driver::{ByteStream, StoreDriver, StoreError};
use tessera_node::stores::{s3, swift};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const PROXY: &str = "127.0.0.1:18080";
const USER: &str = "test:tester";
const KEY: &str = "testing";
const MIB: usize = 1024 * 1024;

/// A running SAIO, stopped when dropped; holds the shared Swift lock meanwhile.
struct Saio {
    script: PathBuf,
    _lock: File,
}

impl Saio {
    fn start() -> Result<Saio, String> {
        let script = std::env::var_os("TESSERA_SWIFT_SAIO").map_or_else(
            || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/peer/swift/saio.sh"),
            PathBuf::from,
        );
        if !script.exists() {
            return Err(format!("no {}", script.display()));
        }
        let lock = File::create("/tmp/tessera-swift.lock").map_err(|e| e.to_string())?;
        lock.lock_exclusive().map_err(|e| e.to_string())?;
        let status = Command::new("bash")
            .arg(&script)
            .arg("start")
            .status()
            .map_err(|e| e.to_string())?;
        if !status.success() {
            return Err(format!("{} start: {status}", script.display()));
        }
        Ok(Saio {
            script,
            _lock: lock,
        })
    }
}

impl Drop for Saio {
    fn drop(&mut self) {
        let _ = Command::new("bash").arg(&self.script).arg("stop").status();
    }
}

/// `len` bytes of reproducible noise.
fn noise(len: usize, seed: u64) -> Bytes {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect::<Vec<u8>>()
        .into()
}

/// `data` as a stream of 64 KiB pieces.
fn stream(data: &Bytes) -> ByteStream {
    let data = data.clone();
    futures::stream::iter(
        (0..data.len())
            .step_by(64 * 1024)
            .map(move |at| Ok(data.slice(at..(at + 64 * 1024).min(data.len())))),
    )
    .boxed()
}

/// `data`'s first `upto` bytes, then a failure (a client that went away).
fn failing_stream(data: &Bytes, upto: usize) -> ByteStream {
    stream(&data.slice(..upto))
        .chain(futures::stream::once(async {
            Err(std::io::Error::other("client went away"))
        }))
        .boxed()
}

async fn read(store: &dyn StoreDriver, location: &str, offset: u64, len: Option<u64>) -> Bytes {
    let pieces: Vec<Bytes> = store
        .get(location, offset, len)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    pieces.concat().into()
}

/// Swift's own API, to look at what the drivers left in the account.
struct Account {
    client: reqwest::Client,
    url: String,
    token: String,
}

impl Account {
    async fn login() -> Account {
        let client = reqwest::Client::new();
        let resp = client
            .get(format!("http://{PROXY}/auth/v1.0"))
            .header("X-Auth-User", USER)
            .header("X-Auth-Key", KEY)
            .send()
            .await
            .unwrap();
        let header = |n: &str| resp.headers()[n].to_str().unwrap().to_owned();
        let (url, token) = (header("X-Storage-Url"), header("X-Auth-Token"));
        Account { client, url, token }
    }

    /// Names of the objects of `container` starting with `prefix`.
    async fn list(&self, container: &str, prefix: &str) -> Vec<String> {
        let resp = self
            .client
            .get(format!("{}/{container}", self.url))
            .query(&[("prefix", prefix)])
            .header("X-Auth-Token", &self.token)
            .send()
            .await
            .unwrap();
        if resp.status() == reqwest::StatusCode::NOT_FOUND {
            return Vec::new();
        }
        let text = resp.text().await.unwrap();
        text.lines().map(str::to_owned).collect()
    }

    /// The `X-Object-Manifest` of an object, if it is a dynamic large object manifest.
    async fn manifest(&self, container: &str, obj: &str) -> Option<String> {
        let resp = self
            .client
            .head(format!("{}/{container}/{obj}", self.url))
            .header("X-Auth-Token", &self.token)
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{obj}: {}", resp.status());
        resp.headers()
            .get("X-Object-Manifest")
            .map(|v| v.to_str().unwrap().to_owned())
    }
}

async fn swift_store(auth: &str) -> Arc<dyn StoreDriver> {
    let table: toml::Value = toml::from_str(&format!(
        "auth_address = 'http://{auth}/auth/v1.0'\nuser = '{USER}'\nkey = '{KEY}'\n\
         create_container_on_put = true\nlarge_object_size = 1\nlarge_object_chunk_size = 1"
    ))
    .unwrap();
    swift::open(table).await.unwrap()
}

async fn s3_store(endpoint: &str) -> Arc<dyn StoreDriver> {
    let table: toml::Value = toml::from_str(&format!(
        "endpoint = 'http://{endpoint}'\naccess_key = '{USER}'\nsecret_key = '{KEY}'\n\
         bucket = 'images'\ncreate_bucket_on_put = true\nlarge_object_size = 6\n\
         large_object_chunk_size = 5"
    ))
    .unwrap();
    s3::open(table).await.unwrap()
}

/// A TCP proxy to `upstream` that cuts the connection during which the bytes sent upstream
/// (over all connections) pass `cut_after`; connections after that one pass untouched.
async fn cutting_proxy(upstream: &str, cut_after: u64) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let upstream = upstream.to_owned();
    let sent = Arc::new(AtomicU64::new(0));
    let cut = Arc::new(AtomicBool::new(false));
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = TcpStream::connect(&upstream).await else {
                continue;
            };
            let (sent, cut) = (sent.clone(), cut.clone());
            tokio::spawn(async move {
                let (mut client_rx, mut client_tx) = client.into_split();
                let (mut server_rx, mut server_tx) = server.into_split();
                let back = tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut server_rx, &mut client_tx).await;
                });
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    let n = match client_rx.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    if !cut.load(Ordering::SeqCst)
                        && sent.fetch_add(n as u64, Ordering::SeqCst) + n as u64 > cut_after
                    {
                        cut.store(true, Ordering::SeqCst);
                        break;
                    }
                    if server_tx.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
                // Both directions close: the request dies mid-body.
                back.abort();
            });
        }
    });
    addr
}

/// A server that answers 503 to every request.
async fn failing_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                let _ = conn.read(&mut buf).await;
                let _ = conn
                    .write_all(
                        b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\
                          Connection: close\r\n\r\n",
                    )
                    .await;
            });
        }
    });
    addr
}

fn id(n: u32) -> String {
    format!("00000000-0000-4000-8000-{n:012}")
}

async fn check_swift(account: &Account) {
    let store = swift_store(PROXY).await;
    let store = store.as_ref();

    // Small, size known: one object.
    let small = noise(100 * 1024, 1);
    let location = store
        .put(&id(1), stream(&small), Some(small.len() as u64))
        .await
        .unwrap();
    assert_eq!(location, format!("swift+config://ref1/glance/{}", id(1)));
    assert_eq!(account.manifest("glance", &id(1)).await, None);
    assert_eq!(read(store, &location, 0, None).await, small);
    assert_eq!(
        read(store, &location, 1000, Some(5000)).await,
        small.slice(1000..6000)
    );
    assert_eq!(
        read(store, &location, 90_000, None).await,
        small.slice(90_000..)
    );
    assert_eq!(store.size(&location).await.unwrap(), small.len() as u64);
    // Glance's older location form of the same object.
    let legacy = format!(
        "swift+http://{USER}:{KEY}@{PROXY}/auth/v1.0/glance/{}",
        id(1)
    );
    assert_eq!(read(store, &legacy, 0, None).await, small);

    // Large, size known: three 1 MiB segments and a DLO manifest, as Glance writes them.
    let large = noise(5 * MIB / 2, 2);
    let location = store
        .put(&id(2), stream(&large), Some(large.len() as u64))
        .await
        .unwrap();
    let prefix = format!("{}-", id(2));
    assert_eq!(
        account.list("glance", &prefix).await,
        ["00001", "00002", "00003"].map(|n| format!("{prefix}{n}"))
    );
    assert_eq!(
        account.manifest("glance", &id(2)).await,
        Some(format!("glance/{prefix}"))
    );
    assert_eq!(read(store, &location, 0, None).await, large);
    let across = (MIB - 10) as u64;
    assert_eq!(
        read(store, &location, across, Some(20)).await,
        large.slice(MIB - 10..MIB + 10)
    );
    assert_eq!(store.size(&location).await.unwrap(), large.len() as u64);
    store.delete(&location).await.unwrap();
    assert!(account.list("glance", &id(2)).await.is_empty());
    assert!(matches!(
        store.get(&location, 0, None).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.size(&location).await,
        Err(StoreError::NotFound(_))
    ));
    store.delete(&location).await.unwrap();

    // Unknown size: segmented, as Glance does.
    let unknown = noise(300 * 1024, 3);
    let location = store.put(&id(3), stream(&unknown), None).await.unwrap();
    assert!(account.manifest("glance", &id(3)).await.is_some());
    assert_eq!(read(store, &location, 0, None).await, unknown);
    store.delete(&location).await.unwrap();
    assert!(account.list("glance", &id(3)).await.is_empty());

    // The data is not the size announced: refused, nothing left.
    for (announced, sent, n) in [
        (200 * 1024, 150 * 1024, 4),
        (100 * 1024, 150 * 1024, 5),
        (2 * MIB, 3 * MIB, 6),
    ] {
        let data = noise(sent, 4);
        let result = store
            .put(&id(n), stream(&data), Some(announced as u64))
            .await;
        assert!(result.is_err(), "{announced} announced, {sent} sent");
        assert!(
            account.list("glance", &id(n)).await.is_empty(),
            "{announced}/{sent} left data"
        );
    }

    // The client goes away in the second segment: the first is removed.
    let result = store
        .put(&id(7), failing_stream(&large, MIB + 100), None)
        .await;
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "{result:?}"
    );
    assert!(account.list("glance", &id(7)).await.is_empty());

    // Not there, not ours, not a location.
    let missing = format!("swift+config://ref1/glance/{}", id(8));
    assert!(matches!(
        store.get(&missing, 0, None).await,
        Err(StoreError::NotFound(_))
    ));
    store.delete(&missing).await.unwrap();
    for bad in ["swift+config://ref2/glance/x", "s3://h/b/x", "nonsense"] {
        assert!(
            matches!(store.get(bad, 0, None).await, Err(StoreError::Refused(_))),
            "{bad}"
        );
    }

    // Wrong key: refused, nothing written.
    let wrong_key = swift::open(
        toml::from_str(&format!(
            "auth_address = 'http://{PROXY}/auth/v1.0'\nuser = '{USER}'\nkey = 'wrong'"
        ))
        .unwrap(),
    )
    .await
    .unwrap();
    let result = wrong_key
        .put(&id(9), stream(&small), Some(small.len() as u64))
        .await;
    assert!(matches!(result, Err(StoreError::Refused(_))), "{result:?}");
    assert!(account.list("glance", &id(9)).await.is_empty());

    // A container that does not exist, with create_container_on_put off.
    let no_create = swift::open(
        toml::from_str(&format!(
            "auth_address = 'http://{PROXY}/auth/v1.0'\nuser = '{USER}'\nkey = '{KEY}'\n\
             container = 'absent'"
        ))
        .unwrap(),
    )
    .await
    .unwrap();
    let result = no_create
        .put(&id(10), stream(&small), Some(small.len() as u64))
        .await;
    assert!(matches!(result, Err(StoreError::Refused(_))), "{result:?}");

    // The connection drops in the middle of the second segment: error, no segment left.
    let proxy = cutting_proxy(PROXY, (3 * MIB / 2) as u64).await;
    let cut = swift_store(&proxy.to_string()).await;
    let result = cut
        .put(&id(11), stream(&large), Some(large.len() as u64))
        .await;
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "{result:?}"
    );
    assert!(account.list("glance", &id(11)).await.is_empty());

    // A Swift that answers 503.
    let down = swift_store(&failing_server().await.to_string()).await;
    let result = down
        .put(&id(12), stream(&small), Some(small.len() as u64))
        .await;
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "{result:?}"
    );
    let result = down
        .get(&format!("swift+config://ref1/glance/{}", id(1)), 0, None)
        .await;
    assert!(matches!(result, Err(StoreError::Unavailable(_))));

    store
        .delete(&format!("swift+config://ref1/glance/{}", id(1)))
        .await
        .unwrap();
    assert!(account.list("glance", "").await.is_empty());
}

async fn check_s3(account: &Account) {
    let store = s3_store(PROXY).await;
    let store = store.as_ref();

    // Small, size known: one PUT.
    let small = noise(100 * 1024, 21);
    let location = store
        .put(&id(21), stream(&small), Some(small.len() as u64))
        .await
        .unwrap();
    assert_eq!(
        location,
        format!("s3+http://test%3Atester:testing@{PROXY}/images/{}", id(21))
    );
    assert_eq!(read(store, &location, 0, None).await, small);
    assert_eq!(
        read(store, &location, 1000, Some(5000)).await,
        small.slice(1000..6000)
    );
    assert_eq!(store.size(&location).await.unwrap(), small.len() as u64);
    store.delete(&location).await.unwrap();
    assert!(matches!(
        store.get(&location, 0, None).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.size(&location).await,
        Err(StoreError::NotFound(_))
    ));
    store.delete(&location).await.unwrap();

    // Large, size known and unknown: multipart in 5 MiB parts.
    let large = noise(12 * MIB, 22);
    for (n, size) in [(22, Some(large.len() as u64)), (23, None)] {
        let location = store.put(&id(n), stream(&large), size).await.unwrap();
        assert_eq!(read(store, &location, 0, None).await, large);
        let across = (5 * MIB - 10) as u64;
        assert_eq!(
            read(store, &location, across, Some(20)).await,
            large.slice(5 * MIB - 10..5 * MIB + 10)
        );
        assert_eq!(
            read(store, &location, across, None).await,
            large.slice(5 * MIB - 10..)
        );
        assert_eq!(store.size(&location).await.unwrap(), large.len() as u64);
        store.delete(&location).await.unwrap();
    }
    // Unknown size that fits in one part: one PUT.
    let location = store.put(&id(24), stream(&small), None).await.unwrap();
    assert_eq!(read(store, &location, 0, None).await, small);
    store.delete(&location).await.unwrap();

    // Announced size wrong; client gone mid-upload: refused / failed, nothing left.
    let result = store.put(&id(25), stream(&small), Some(50 * 1024)).await;
    assert!(matches!(result, Err(StoreError::Refused(_))), "{result:?}");
    let result = store
        .put(&id(26), failing_stream(&large, 7 * MIB), None)
        .await;
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "{result:?}"
    );

    // Bad location, wrong secret, bucket absent.
    assert!(matches!(
        store.get("s3+http://elsewhere:1/images/x", 0, None).await,
        Err(StoreError::Refused(_))
    ));
    let wrong_key = s3::open(
        toml::from_str(&format!(
            "endpoint = 'http://{PROXY}'\naccess_key = '{USER}'\nsecret_key = 'wrong'\n\
             bucket = 'images'"
        ))
        .unwrap(),
    )
    .await
    .unwrap();
    let result = wrong_key
        .put(&id(27), stream(&small), Some(small.len() as u64))
        .await;
    assert!(matches!(result, Err(StoreError::Refused(_))), "{result:?}");
    let no_create = s3::open(
        toml::from_str(&format!(
            "endpoint = 'http://{PROXY}'\naccess_key = '{USER}'\nsecret_key = '{KEY}'\n\
             bucket = 'absent'"
        ))
        .unwrap(),
    )
    .await
    .unwrap();
    let result = no_create
        .put(&id(28), stream(&small), Some(small.len() as u64))
        .await;
    assert!(matches!(result, Err(StoreError::Refused(_))), "{result:?}");

    // The connection drops in the second part: error, the multipart upload is aborted.
    let proxy = cutting_proxy(PROXY, (7 * MIB) as u64).await;
    let cut = s3_store(&proxy.to_string()).await;
    let result = cut
        .put(&id(29), stream(&large), Some(large.len() as u64))
        .await;
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "{result:?}"
    );

    // A server that answers 503.
    let down = s3_store(&failing_server().await.to_string()).await;
    let result = down
        .put(&id(30), stream(&small), Some(small.len() as u64))
        .await;
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "{result:?}"
    );

    // s3api keeps objects in the container of the bucket's name and parts in `<bucket>+segments`.
    assert!(account.list("images", "").await.is_empty());
    assert!(account.list("images+segments", "").await.is_empty());
}

/// Makes Swift forget every token: tempauth keeps them in the SAIO's memcached.
async fn flush_tokens() {
    let mut memcached = TcpStream::connect("127.0.0.1:21211").await.unwrap();
    memcached.write_all(b"flush_all\r\n").await.unwrap();
    let mut answer = [0u8; 4];
    memcached.read_exact(&mut answer).await.unwrap();
    assert_eq!(&answer, b"OK\r\n");
}

/// A driver whose token Swift no longer knows gets a 401, logs in again and carries on, for
/// reads, deletes and uploads alike.
async fn check_token_renewal() {
    let store = swift_store(PROXY).await;
    let data = noise(10 * 1024, 31);
    let size = Some(data.len() as u64);
    let location = store.put(&id(31), stream(&data), size).await.unwrap();
    flush_tokens().await;
    assert_eq!(store.size(&location).await.unwrap(), data.len() as u64);
    flush_tokens().await;
    assert_eq!(read(store.as_ref(), &location, 0, None).await, data);
    flush_tokens().await;
    let second = store.put(&id(32), stream(&data), size).await.unwrap();
    flush_tokens().await;
    store.delete(&location).await.unwrap();
    store.delete(&second).await.unwrap();
    assert!(Account::login().await.list("glance", "").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_stores_against_a_real_swift() {
    let saio = match Saio::start() {
        Ok(saio) => saio,
        Err(why) => {
            eprintln!("SKIPPED: cannot start Swift ({why})");
            return;
        }
    };
    let account = Account::login().await;
    check_swift(&account).await;
    check_s3(&account).await;
    check_token_renewal().await;
    drop(saio);
}

const KEYSTONE: &str = "http://127.0.0.1:5000/v3";
/// The Keystone-authenticated proxy on the SAIO.
const KS_PROXY: &str = "127.0.0.1:18081";
/// The test's catalog service, project and user in Keystone.
const KS_NAME: &str = "tessera-swift-test";
const KS_KEY: &str = "secretswift";

fn peer_script(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/peer")
        .join(path)
}

/// A real Keystone, started here unless it was running (and then stopped when dropped).
struct Keystone {
    script: PathBuf,
    started: bool,
}

impl Keystone {
    fn start() -> Result<Keystone, String> {
        let script = peer_script("tempest/keystone.sh");
        if !script.exists() {
            return Err(format!("no {}", script.display()));
        }
        let running = std::net::TcpStream::connect("127.0.0.1:5000").is_ok();
        if !running {
            let status = Command::new("bash")
                .arg(&script)
                .arg("start")
                .stdout(Stdio::null())
                .status()
                .map_err(|e| e.to_string())?;
            if !status.success() {
                return Err(format!("{} start: {status}", script.display()));
            }
        }
        Ok(Keystone {
            script,
            started: !running,
        })
    }
}

impl Drop for Keystone {
    fn drop(&mut self) {
        if self.started {
            let _ = Command::new("bash")
                .arg(&self.script)
                .arg("stop")
                .stdout(Stdio::null())
                .status();
        }
    }
}

/// A second proxy on the SAIO's rings and servers (its generated config, `run.py` launcher
/// and Debian's python), with Keystone's `authtoken` and `keystoneauth` in place of tempauth.
/// `authtoken` keeps what Keystone said of a token in the SAIO's memcached (`swift.cache`),
/// so flushing it makes a revoked token refused at once. Killed when dropped.
struct KeystoneProxy(Child);

impl KeystoneProxy {
    async fn start() -> KeystoneProxy {
        let base = std::env::var_os("SWIFT_BASE").map_or_else(
            || {
                PathBuf::from(
                    std::env::var_os("PEER_DIR").unwrap_or_else(|| "/tmp/tessera-peer".into()),
                )
                .join("swift")
            },
            PathBuf::from,
        );
        let etc = base.join("etc");
        let port = KS_PROXY.rsplit_once(':').unwrap().1;
        let mut conf: String = std::fs::read_to_string(etc.join("proxy-server.conf"))
            .unwrap()
            .lines()
            .map(|line| match line {
                l if l.starts_with("bind_port") => format!("bind_port = {port}\n"),
                l if l.starts_with("pipeline") => "pipeline = healthcheck proxy-logging cache \
                    authtoken keystoneauth slo proxy-logging proxy-server\n"
                    .to_owned(),
                l => format!("{l}\n"),
            })
            .collect();
        conf.push_str(
            "[filter:authtoken]\n\
             paste.filter_factory = keystonemiddleware.auth_token:filter_factory\n\
             www_authenticate_uri = http://127.0.0.1:5000\nauth_url = http://127.0.0.1:5000\n\
             auth_type = password\nusername = admin\npassword = secretadmin\n\
             project_name = admin\nuser_domain_id = default\nproject_domain_id = default\n\
             delay_auth_decision = true\ncache = swift.cache\n\
             [filter:keystoneauth]\nuse = egg:swift#keystoneauth\n\
             operator_roles = admin, member\n",
        );
        let path = etc.join("proxy-keystone.conf");
        std::fs::write(&path, conf).unwrap();
        let log = File::create(base.join("log/proxy-keystone.log")).unwrap();
        let child = Command::new("/usr/bin/python3")
            .arg(etc.join("run.py"))
            .arg(&etc)
            .arg("proxy-server")
            .arg(&path)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let proxy = KeystoneProxy(child);
        let client = reqwest::Client::new();
        for _ in 0..150 {
            let health = client
                .get(format!("http://{KS_PROXY}/healthcheck"))
                .send()
                .await;
            if health.is_ok_and(|r| r.status().is_success()) {
                return proxy;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the Keystone proxy did not start: see {}", base.display());
    }
}

impl Drop for KeystoneProxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A project-scoped password token.
async fn keystone_token(user: &str, password: &str, project: &str) -> String {
    let body = json!({"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": user, "domain": {"id": "default"}, "password": password}}},
        "scope": {"project": {"name": project, "domain": {"id": "default"}}}}});
    let resp = reqwest::Client::new()
        .post(format!("{KEYSTONE}/auth/tokens"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), reqwest::StatusCode::CREATED, "{user}");
    resp.headers()["X-Subject-Token"]
        .to_str()
        .unwrap()
        .to_owned()
}

/// Keystone's admin API: Swift in the catalog, and a project and user for the test.
struct KeystoneAdmin {
    client: reqwest::Client,
    token: String,
}

impl KeystoneAdmin {
    async fn login() -> KeystoneAdmin {
        let token = keystone_token("admin", "secretadmin", "admin").await;
        KeystoneAdmin {
            client: reqwest::Client::new(),
            token,
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self
            .client
            .request(method.clone(), format!("{KEYSTONE}/{path}"))
            .header("X-Auth-Token", &self.token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.unwrap();
        assert!(
            resp.status().is_success(),
            "{method} {path}: {}",
            resp.status()
        );
        resp.json().await.unwrap_or(Value::Null)
    }

    /// The ids of the `kind` (services, projects, users) named `KS_NAME`.
    async fn ours(&self, kind: &str) -> Vec<String> {
        let found = self
            .call(
                reqwest::Method::GET,
                &format!("{kind}?name={KS_NAME}"),
                None,
            )
            .await;
        found[kind]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["id"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Removes the test's service (its endpoints go with it), user and project, this run's
    /// or a failed earlier run's.
    async fn clean(&self) {
        for kind in ["users", "projects", "services"] {
            for id in self.ours(kind).await {
                self.call(reqwest::Method::DELETE, &format!("{kind}/{id}"), None)
                    .await;
            }
        }
    }

    /// Registers the Keystone proxy as `object-store` in RegionOne (public; the admin
    /// interface at a port nothing listens on), and a project with a user holding `member`;
    /// returns the project's and the user's ids.
    async fn set_up(&self) -> (String, String) {
        use reqwest::Method;
        self.clean().await;
        let service = self
            .call(
                Method::POST,
                "services",
                Some(json!({"service": {"type": "object-store", "name": KS_NAME}})),
            )
            .await;
        let service = service["service"]["id"].as_str().unwrap();
        for (interface, url) in [
            (
                "public",
                format!("http://{KS_PROXY}/v1/AUTH_$(project_id)s"),
            ),
            (
                "admin",
                "http://127.0.0.1:1/v1/AUTH_$(project_id)s".to_owned(),
            ),
        ] {
            let endpoint = json!({"endpoint": {"service_id": service, "interface": interface,
                                               "region_id": "RegionOne", "url": url}});
            self.call(Method::POST, "endpoints", Some(endpoint)).await;
        }
        let project = self
            .call(
                Method::POST,
                "projects",
                Some(json!({"project": {"name": KS_NAME, "domain_id": "default"}})),
            )
            .await;
        let project = project["project"]["id"].as_str().unwrap().to_owned();
        let user = self
            .call(
                Method::POST,
                "users",
                Some(json!({"user": {"name": KS_NAME, "domain_id": "default",
                                     "password": KS_KEY}})),
            )
            .await;
        let user = user["user"]["id"].as_str().unwrap().to_owned();
        let roles = self.call(Method::GET, "roles?name=member", None).await;
        let role = roles["roles"][0]["id"].as_str().unwrap();
        self.call(
            Method::PUT,
            &format!("projects/{project}/users/{user}/roles/{role}"),
            None,
        )
        .await;
        (project, user)
    }

    /// Revokes every token of `user` (Keystone does when a user is disabled), and makes
    /// Swift forget what it knew of them.
    async fn revoke_tokens(&self, user: &str) {
        for enabled in [false, true] {
            self.call(
                reqwest::Method::PATCH,
                &format!("users/{user}"),
                Some(json!({"user": {"enabled": enabled}})),
            )
            .await;
        }
        // Fernet tokens carry whole seconds: one issued in the second of the revocation
        // would count as revoked too.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        flush_tokens().await;
    }
}

/// The test project's account, seen with a token of its own.
async fn keystone_account(project: &str) -> Account {
    let token = keystone_token(KS_NAME, KS_KEY, KS_NAME).await;
    Account {
        client: reqwest::Client::new(),
        url: format!("http://{KS_PROXY}/v1/AUTH_{project}"),
        token,
    }
}

/// A `swift` store with Keystone v3 auth as the test user, `extra` options added.
async fn keystone_store(auth: &str, key: &str, extra: &str) -> Arc<dyn StoreDriver> {
    let table: toml::Value = toml::from_str(&format!(
        "auth_address = '{auth}'\nauth_version = 3\nuser = '{KS_NAME}:{KS_NAME}'\n\
         key = '{key}'\ncreate_container_on_put = true\nlarge_object_size = 1\n\
         large_object_chunk_size = 1\n{extra}"
    ))
    .unwrap();
    swift::open(table).await.unwrap()
}

async fn check_keystone(admin: &KeystoneAdmin, project: &str, user: &str) {
    let account = keystone_account(project).await;
    let store = keystone_store(KEYSTONE, KS_KEY, "").await;
    let store = store.as_ref();

    // Small: one object in the project's account, found through the token's catalog.
    let small = noise(100 * 1024, 41);
    let size = Some(small.len() as u64);
    let location = store.put(&id(41), stream(&small), size).await.unwrap();
    assert_eq!(location, format!("swift+config://ref1/glance/{}", id(41)));
    assert_eq!(account.list("glance", &id(41)).await, [id(41)]);
    assert_eq!(read(store, &location, 0, None).await, small);
    assert_eq!(
        read(store, &location, 1000, Some(5000)).await,
        small.slice(1000..6000)
    );
    assert_eq!(store.size(&location).await.unwrap(), small.len() as u64);

    // Large: 1 MiB segments and a DLO manifest (unknown sizes take the tempauth-tested path).
    let large = noise(5 * MIB / 2, 42);
    let large_location = store
        .put(&id(42), stream(&large), Some(large.len() as u64))
        .await
        .unwrap();
    let prefix = format!("{}-", id(42));
    assert_eq!(
        account.list("glance", &prefix).await,
        ["00001", "00002", "00003"].map(|s| format!("{prefix}{s}"))
    );
    assert_eq!(
        account.manifest("glance", &id(42)).await,
        Some(format!("glance/{prefix}"))
    );
    assert_eq!(read(store, &large_location, 0, None).await, large);
    assert_eq!(
        read(store, &large_location, (MIB - 10) as u64, Some(20)).await,
        large.slice(MIB - 10..MIB + 10)
    );
    store.delete(&large_location).await.unwrap();
    assert!(account.list("glance", &id(42)).await.is_empty());

    // Domains by name and the region named: the same account.
    let by_name = keystone_store(
        KEYSTONE,
        KS_KEY,
        "user_domain_name = 'Default'\nproject_domain_name = 'Default'\nregion = 'RegionOne'",
    )
    .await;
    assert_eq!(read(by_name.as_ref(), &location, 0, None).await, small);

    // Wrong password: refused, nothing written.
    let wrong = keystone_store(KEYSTONE, "wrong", "").await;
    let result = wrong.put(&id(44), stream(&small), size).await;
    assert!(matches!(result, Err(StoreError::Refused(_))), "{result:?}");
    assert!(account.list("glance", &id(44)).await.is_empty());

    // No endpoint in that region: refused; the admin interface's endpoint is down.
    let elsewhere = keystone_store(KEYSTONE, KS_KEY, "region = 'Elsewhere'").await;
    let result = elsewhere.get(&location, 0, None).await.err();
    assert!(matches!(result, Some(StoreError::Refused(_))), "{result:?}");
    let admin_url = keystone_store(KEYSTONE, KS_KEY, "endpoint_type = 'adminURL'").await;
    let result = admin_url.get(&location, 0, None).await.err();
    assert!(
        matches!(result, Some(StoreError::Unavailable(_))),
        "{result:?}"
    );

    // Keystone unreachable or answering 503: unavailable.
    let down = failing_server().await;
    for auth in [
        "http://127.0.0.1:1/v3".to_owned(),
        format!("http://{down}/v3"),
    ] {
        let store = keystone_store(&auth, KS_KEY, "").await;
        let result = store.put(&id(45), stream(&small), size).await;
        assert!(
            matches!(result, Err(StoreError::Unavailable(_))),
            "{auth}: {result:?}"
        );
    }

    // Every token of the user revoked (the account's own is refused from then on): the
    // driver gets a 401, logs in again and carries on, for reads and for uploads (whose
    // container HEAD renews the token before a body that cannot be sent twice).
    admin.revoke_tokens(user).await;
    assert_eq!(
        account
            .client
            .head(format!("{}/glance", account.url))
            .header("X-Auth-Token", &account.token)
            .send()
            .await
            .unwrap()
            .status(),
        reqwest::StatusCode::UNAUTHORIZED
    );
    assert_eq!(read(store, &location, 0, None).await, small);
    admin.revoke_tokens(user).await;
    let second = store.put(&id(46), stream(&small), None).await.unwrap();
    store.delete(&second).await.unwrap();
    store.delete(&location).await.unwrap();
    let account = keystone_account(project).await;
    assert!(account.list("glance", "").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swift_with_keystone_v3() {
    // Keystone first, then Swift: the order every user of both locks takes them in.
    let keystone = match Keystone::start() {
        Ok(keystone) => keystone,
        Err(why) => {
            eprintln!("SKIPPED: cannot start Keystone ({why})");
            return;
        }
    };
    let saio = match Saio::start() {
        Ok(saio) => saio,
        Err(why) => {
            eprintln!("SKIPPED: cannot start Swift ({why})");
            return;
        }
    };
    let proxy = KeystoneProxy::start().await;
    let admin = KeystoneAdmin::login().await;
    let (project, user) = admin.set_up().await;
    check_keystone(&admin, &project, &user).await;
    admin.clean().await;
    drop(proxy);
    drop(saio);
    drop(keystone);
}

/// Upload and download MB/s of a 1 GiB image through each driver, Glance's default sizes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "1 GiB through each driver: make bench-stores"]
async fn bench_1_gib() {
    let saio = Saio::start().expect("swift");
    let mib = noise(MIB, 7);
    let image = || {
        let mib = mib.clone();
        futures::stream::iter((0..1024).map(move |_| Ok::<_, std::io::Error>(mib.clone()))).boxed()
    };
    let size = Some(1024 * MIB as u64);
    let glance_swift = toml::from_str(&format!(
        "auth_address = 'http://{PROXY}/auth/v1.0'\nuser = '{USER}'\nkey = '{KEY}'\n\
         create_container_on_put = true"
    ))
    .unwrap();
    let glance_s3 = toml::from_str(&format!(
        "endpoint = 'http://{PROXY}'\naccess_key = '{USER}'\nsecret_key = '{KEY}'\n\
         bucket = 'images'\ncreate_bucket_on_put = true"
    ))
    .unwrap();
    let swift_segments = toml::from_str(&format!(
        "auth_address = 'http://{PROXY}/auth/v1.0'\nuser = '{USER}'\nkey = '{KEY}'\n\
         create_container_on_put = true\nlarge_object_size = 200"
    ))
    .unwrap();
    let stores: [(&str, Arc<dyn StoreDriver>); 3] = [
        (
            "swift (one object)",
            swift::open(glance_swift).await.unwrap(),
        ),
        (
            "swift (200 MiB segments)",
            swift::open(swift_segments).await.unwrap(),
        ),
        ("s3 (10 MiB parts)", s3::open(glance_s3).await.unwrap()),
    ];
    for (name, store) in stores {
        let started = Instant::now();
        let location = store.put(&id(99), image(), size).await.unwrap();
        let up = started.elapsed().as_secs_f64();
        let started = Instant::now();
        let mut body = store.get(&location, 0, None).await.unwrap();
        let mut got = 0usize;
        while let Some(piece) = body.next().await {
            got += piece.unwrap().len();
        }
        let down = started.elapsed().as_secs_f64();
        assert_eq!(got, 1024 * MIB);
        println!(
            "{name}: 1 GiB upload {:.0} MB/s, download {:.0} MB/s",
            1073.741824 / up,
            1073.741824 / down
        );
        store.delete(&location).await.unwrap();
    }
    drop(saio);
}
