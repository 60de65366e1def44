//! Loopback throughput of the peer transport: 1 GiB in 4 MiB calls over mutual-TLS QUIC.
//!
//! `cargo run --release -p tessera-node --example quic_bench [TOTAL_MIB] [CALL_MIB] [PARALLEL]`

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tessera_node::certs;
use tessera_node::transport::{Handler, LinkError, PeerIdentity, PeerTls, Service, Transport};

/// Acknowledges chunk writes with their length, like a chunk store would.
struct Sink;

#[async_trait::async_trait]
impl Handler for Sink {
    async fn handle(
        &self,
        _service: Service,
        payload: Vec<u8>,
        _peer: PeerIdentity,
    ) -> Result<Vec<u8>, String> {
        Ok((payload.len() as u64).to_be_bytes().to_vec())
    }
}

/// Generous: a 64 MiB call on a loaded machine.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

fn arg(n: usize, default: usize) -> usize {
    std::env::args()
        .nth(n)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let total_mib = arg(1, 1024);
    let call_mib = arg(2, 4);
    let parallel = arg(3, 1).max(1);
    let dir = tempfile::tempdir()?;
    // The same steps an operator runs: `tessera cluster init` then `tessera cluster cert`.
    for command in [
        certs::CertCommand::Init {
            dir: dir.path().into(),
            ca_dir: Some(dir.path().join("ca")),
            node: "sender".into(),
            id: 1,
            days: certs::DEFAULT_CERT_DAYS,
        },
        certs::CertCommand::Cert {
            ca: dir.path().join("ca"),
            node: "receiver".into(),
            id: 2,
            days: certs::DEFAULT_CERT_DAYS,
            out: dir.path().into(),
        },
    ] {
        if certs::run_cert_command(command) != std::process::ExitCode::SUCCESS {
            return Err("certificate setup failed".into());
        }
    }
    let tls = |name: &str| PeerTls::from_files(&certs::NodeIdentityFiles::in_dir(dir.path(), name));
    let localhost: SocketAddr = "127.0.0.1:0".parse()?;
    let receiver = Transport::bind(localhost, tls("receiver")?)?;
    let sender = Transport::bind(localhost, tls("sender")?)?;
    let serving = receiver.spawn_serve(Arc::new(Sink));
    let to = receiver.local_addr();

    // Warm-up: the handshake is not part of the measurement.
    sender
        .call_with_timeout(to, Service::Chunks, Vec::new(), CALL_TIMEOUT)
        .await?;

    let call_bytes = call_mib * 1024 * 1024;
    let calls = (total_mib / call_mib).max(1);
    let payload = vec![0x5au8; call_bytes];
    let started = Instant::now();
    let mut sent = 0usize;
    let mut issued = 0usize;
    while issued < calls {
        let batch = parallel.min(calls - issued);
        let mut tasks = Vec::with_capacity(batch);
        for _ in 0..batch {
            let sender = sender.clone();
            let payload = payload.clone();
            tasks.push(tokio::spawn(async move {
                sender
                    .call_with_timeout(to, Service::Chunks, payload, CALL_TIMEOUT)
                    .await
            }));
        }
        for task in tasks {
            let reply: Result<Vec<u8>, LinkError> = task.await?;
            let ack = reply?;
            let len = u64::from_be_bytes(ack.as_slice().try_into()?);
            sent += len as usize;
        }
        issued += batch;
    }
    let elapsed = started.elapsed();
    let mb_s = sent as f64 / 1e6 / elapsed.as_secs_f64();
    println!(
        "{} MiB in {calls} calls of {call_mib} MiB ({parallel} in flight): {:.2} s, {mb_s:.0} MB/s",
        sent / (1024 * 1024),
        elapsed.as_secs_f64(),
    );
    sender.close().await;
    receiver.close().await;
    serving.await?;
    Ok(())
}
