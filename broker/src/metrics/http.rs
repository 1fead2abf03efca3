//! The broker's HTTP endpoint: `GET /metrics` (Prometheus text), `GET /healthz` (the process
//! serves) and `GET /readyz` (the store is open and at least one NameServer took the
//! registration: what a Kubernetes readiness probe should wait for). Anything else is 404.
//!
//! A deliberately small HTTP/1.1 server: one request per connection, headers bounded to
//! [`MAX_REQUEST`] bytes and [`READ_TIMEOUT`], so a slow or hostile scraper costs one task.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::watch,
};

use super::broker_page;
use crate::broker::context::BrokerContext;

/// Largest request head read.
pub const MAX_REQUEST: usize = 8 * 1024;
/// Longest wait for a request head.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// A bound metrics listener.
#[derive(Debug)]
pub struct MetricsServer {
    listener: TcpListener,
}

impl MetricsServer {
    /// Binds `addr` (port 0 picks one).
    pub async fn bind(addr: SocketAddr) -> std::io::Result<Self> {
        Ok(Self {
            listener: TcpListener::bind(addr).await?,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `stop` turns true.
    pub async fn serve(self, ctx: Arc<BrokerContext>, mut stop: watch::Receiver<bool>) {
        loop {
            let accepted = tokio::select! {
                a = self.listener.accept() => a,
                _ = stop.wait_for(|s| *s) => return,
            };
            match accepted {
                Ok((stream, _)) => {
                    let ctx = ctx.clone();
                    tokio::spawn(async move { answer(stream, &ctx).await });
                }
                Err(err) => {
                    tracing::warn!(%err, "metrics accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
}

/// The request target of a request head, if it is a complete `GET`.
fn target(head: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(head).ok()?;
    let line = text.lines().next()?;
    let mut parts = line.split(' ');
    match (parts.next(), parts.next()) {
        (Some("GET"), Some(path)) => Some(path.split('?').next().unwrap_or(path)),
        _ => None,
    }
}

async fn answer(mut stream: TcpStream, ctx: &BrokerContext) {
    let mut head = Vec::with_capacity(512);
    let read = tokio::time::timeout(READ_TIMEOUT, async {
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_REQUEST {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        true
    })
    .await;
    if !matches!(read, Ok(true)) {
        return;
    }
    let (status, content_type, body) = match target(&head) {
        Some("/metrics") => (
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            broker_page::render(ctx),
        ),
        Some("/healthz") => ("200 OK", "text/plain", "ok\n".to_owned()),
        Some("/readyz") if ctx.is_ready() => ("200 OK", "text/plain", "ready\n".to_owned()),
        Some("/readyz") => (
            "503 Service Unavailable",
            "text/plain",
            "not registered with any NameServer yet\n".to_owned(),
        ),
        Some(_) => ("404 Not Found", "text/plain", "not found\n".to_owned()),
        None => ("400 Bad Request", "text/plain", "only GET is served\n".to_owned()),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(READ_TIMEOUT, stream.write_all(response.as_bytes())).await;
    let _ = stream.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_targets() {
        assert_eq!(
            target(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            Some("/metrics")
        );
        assert_eq!(target(b"GET /readyz?verbose HTTP/1.1\r\n\r\n"), Some("/readyz"));
        assert_eq!(target(b"POST /metrics HTTP/1.1\r\n\r\n"), None);
        assert_eq!(target(b"\xff\xfe"), None);
    }
}
