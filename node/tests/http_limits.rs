//! The public API server's limits over real sockets: a client that sends its request head a
//! byte at a time is cut off at the header timeout, a connection over the cap gets a 503 with
//! a reason, and 200 such slow clients do not stop another client's upload.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;

use axum::routing::put;
use axum::Router;
use tessera_node::http_server::{serve_http, HttpLimits};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A server whose one route reads the whole body and answers its length.
async fn server(limits: HttpLimits) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let app = Router::new()
        .route(
            "/upload",
            put(|body: axum::body::Bytes| async move { body.len().to_string() }),
        )
        .layer(axum::extract::DefaultBodyLimit::disable());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve_http(listener, app, limits, None, async move {
        let _ = stopped.await;
    }));
    (addr, stop)
}

/// Connects and sends a request head one byte per `pace`, never finishing it; returns when the
/// server closes the connection (or after `give_up`), with how long that took.
async fn slow_head(addr: SocketAddr, pace: Duration, give_up: Duration) -> Option<Duration> {
    let start = std::time::Instant::now();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = b"PUT /upload HTTP/1.1\r\nhost: x\r\nx-slow: ".repeat(100);
    let send = async {
        for byte in head.iter().cycle() {
            if stream.write_all(&[*byte]).await.is_err() {
                return;
            }
            let mut buf = [0u8; 1];
            // A read that ends (EOF or reset) is the server closing.
            if let Ok(r) = tokio::time::timeout(pace, stream.read(&mut buf)).await {
                if matches!(r, Ok(0) | Err(_)) {
                    return;
                }
            }
        }
    };
    tokio::time::timeout(give_up, send).await.ok()?;
    Some(start.elapsed())
}

async fn upload(addr: SocketAddr, len: usize) -> String {
    let resp = reqwest::Client::new()
        .put(format!("http://{addr}/upload"))
        .body(vec![7u8; len])
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    resp.text().await.unwrap()
}

#[tokio::test]
async fn a_slow_head_is_cut_off_at_the_header_timeout() {
    let (addr, _stop) = server(HttpLimits {
        header_timeout: Duration::from_secs(1),
        ..HttpLimits::default()
    })
    .await;
    let took = slow_head(addr, Duration::from_millis(100), Duration::from_secs(10))
        .await
        .expect("the server closes a connection whose head takes too long");
    assert!(took >= Duration::from_millis(900), "{took:?}");
}

#[tokio::test]
async fn over_the_connection_cap_a_client_gets_503_with_a_reason() {
    let (addr, _stop) = server(HttpLimits {
        max_connections: 3,
        ..HttpLimits::default()
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(addr).await.unwrap());
    }
    // Let the server take the three before the fourth comes.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut extra = TcpStream::connect(addr).await.unwrap();
    extra
        .write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(5), extra.read_to_string(&mut answer))
        .await
        .unwrap()
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 503 "), "{answer}");
    assert!(answer.contains("limit of 3 connections"), "{answer}");
    // A closed connection frees its slot.
    held.clear();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(upload(addr, 10).await, "10");
}

#[tokio::test]
async fn slow_clients_do_not_stop_an_upload() {
    let (addr, _stop) = server(HttpLimits::default()).await;
    let slow: Vec<_> = (0..200)
        .map(|_| {
            tokio::spawn(slow_head(
                addr,
                Duration::from_secs(1),
                Duration::from_secs(60),
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Generous bound: this catches a server that stopped serving, not a slow one.
    let done = tokio::time::timeout(Duration::from_secs(30), upload(addr, 32 << 20)).await;
    assert_eq!(done.expect("the upload finished"), (32 << 20).to_string());
    for s in slow {
        s.abort();
    }
}
