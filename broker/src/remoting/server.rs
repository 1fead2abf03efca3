//! The accept loop: one [`Connection`] per client, all served by one handler.

use std::{
    net::SocketAddr,
    sync::{Arc, Weak},
};

use tokio::{net::TcpListener, sync::watch};

use super::{
    connection::{self, Connection, ConnectionConfig, Handler},
    error::RemotingError,
};

/// A bound listener.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    config: ConnectionConfig,
}

impl Server {
    /// Binds `addr` (port 0 picks a free port).
    pub async fn bind(addr: &str, config: ConnectionConfig) -> Result<Self, RemotingError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| RemotingError::Io {
                op: "listen on",
                peer: addr.to_owned(),
                source,
            })?;
        Ok(Self { listener, config })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// Accepts connections until `shutdown` turns true, then closes every connection it accepted
    /// (as a process exit would).
    pub async fn serve<H: Handler>(self, handler: Arc<H>, mut shutdown: watch::Receiver<bool>) {
        let mut accepted: Vec<Weak<Connection>> = Vec::new();
        loop {
            let next = tokio::select! {
                next = self.listener.accept() => next,
                _ = shutdown.wait_for(|s| *s) => break,
            };
            match next {
                Ok((stream, _)) => {
                    let connection = connection::start(stream, handler.clone(), &self.config);
                    accepted.retain(|c| c.upgrade().is_some_and(|c| !c.is_closed()));
                    accepted.push(Arc::downgrade(&connection));
                }
                // Out of file descriptors and the like: keep serving the connections we have.
                Err(err) => {
                    tracing::warn!(%err, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        }
        for connection in accepted.iter().filter_map(Weak::upgrade) {
            connection.close();
        }
    }
}
