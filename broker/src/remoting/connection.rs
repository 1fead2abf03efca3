//! One remoting connection, either side: a reader that decodes frames, a writer fed by a bounded
//! queue, and a table of requests this side sent and awaits answers for.
//!
//! - Each incoming request is handled in its own task, so a request that waits (a long-poll
//!   pull) never delays the others; responses go out in whatever order they finish, matched by
//!   `opaque` on the peer.
//! - Either side can send requests: the broker calls its clients back on their own connection.
//! - Oneway requests are never answered.
//! - The write queue is bounded. A peer that stops reading fills it; a sender that cannot enqueue
//!   within `write_timeout` closes that connection. Nothing else is slowed down.
//! - A frame that does not decode closes the connection, as the reference does.

use std::{
    collections::HashMap,
    future::Future,
    net::SocketAddr,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicI32, Ordering},
    },
    time::Duration,
};

use bytes::BytesMut;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{
        TcpStream,
        tcp::{OwnedReadHalf, OwnedWriteHalf},
    },
    sync::{Semaphore, mpsc, oneshot, watch},
};

use super::error::RemotingError;
use crate::protocol::{
    RemotingCommand, SerializeType,
    command::FLAG_RESPONSE,
    frame::{self, DEFAULT_MAX_FRAME},
};

/// Limits of one connection.
#[derive(Debug, Clone)]
pub struct ConnectionConfig {
    /// Largest frame accepted, length prefix included.
    pub max_frame: usize,
    /// Commands queued for writing before senders wait.
    pub write_queue: usize,
    /// How long a sender waits on a full queue before the connection is closed.
    pub write_timeout: Duration,
    /// Requests handled at once; reading pauses beyond it.
    pub max_in_flight: usize,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        Self {
            max_frame: DEFAULT_MAX_FRAME,
            write_queue: 4096,
            write_timeout: Duration::from_secs(3),
            max_in_flight: 4096,
        }
    }
}

/// What answers the requests a peer sends.
pub trait Handler: Send + Sync + 'static {
    /// Handles one request; `None` sends nothing (for oneway requests the result is dropped).
    fn handle(
        &self,
        connection: Arc<Connection>,
        request: RemotingCommand,
    ) -> impl Future<Output = Option<RemotingCommand>> + Send;

    /// Called once when the connection closes.
    fn on_close(&self, _connection: &Arc<Connection>) {}
}

/// A handler for connections whose peer is not expected to send requests (a broker's
/// connection to a NameServer, a client in tests): everything is answered "not supported".
#[derive(Debug, Clone, Copy, Default)]
pub struct RefuseCallbacks;

impl Handler for RefuseCallbacks {
    async fn handle(&self, _: Arc<Connection>, request: RemotingCommand) -> Option<RemotingCommand> {
        Some(RemotingCommand::response_to(
            &request,
            crate::protocol::code::response::REQUEST_CODE_NOT_SUPPORTED,
        ))
    }
}

/// A live connection.
#[derive(Debug)]
pub struct Connection {
    peer: SocketAddr,
    queue: mpsc::Sender<RemotingCommand>,
    pending: Mutex<HashMap<i32, oneshot::Sender<RemotingCommand>>>,
    next_opaque: AtomicI32,
    closed: watch::Sender<bool>,
    write_timeout: Duration,
}

impl Connection {
    /// The remote address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// Whether the connection has closed.
    pub fn is_closed(&self) -> bool {
        *self.closed.borrow()
    }

    /// Closes the connection (both directions end, pending requests fail).
    pub fn close(&self) {
        self.closed.send_replace(true);
    }

    /// Resolves when the connection closes.
    pub async fn closed(&self) {
        let mut rx = self.closed.subscribe();
        let _ = rx.wait_for(|c| *c).await;
    }

    /// Queues a command for writing.
    pub async fn send(&self, command: RemotingCommand) -> Result<(), RemotingError> {
        if self.is_closed() {
            return Err(RemotingError::Closed(self.peer.to_string()));
        }
        match tokio::time::timeout(self.write_timeout, self.queue.send(command)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(RemotingError::Closed(self.peer.to_string())),
            Err(_) => {
                tracing::warn!(peer = %self.peer, "peer is not reading; closing its connection");
                self.close();
                Err(RemotingError::Backpressure(self.peer.to_string()))
            }
        }
    }

    /// Sends a request and waits for its response.
    pub async fn request(
        &self,
        mut request: RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand, RemotingError> {
        let opaque = self.next_opaque.fetch_add(1, Ordering::Relaxed);
        request.opaque = opaque;
        let code = request.code;
        let (tx, rx) = oneshot::channel();
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(opaque, tx);
        let outcome = async {
            self.send(request).await?;
            rx.await.map_err(|_| RemotingError::Closed(self.peer.to_string()))
        };
        let result = match tokio::time::timeout(timeout, outcome).await {
            Ok(result) => result,
            Err(_) => Err(RemotingError::Timeout {
                peer: self.peer.to_string(),
                code,
                millis: timeout.as_millis(),
            }),
        };
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&opaque);
        result
    }

    /// Sends a request that must not be answered.
    pub async fn oneway(&self, request: RemotingCommand) -> Result<(), RemotingError> {
        let mut request = request.oneway();
        request.opaque = self.next_opaque.fetch_add(1, Ordering::Relaxed);
        self.send(request).await
    }

    fn complete(&self, response: RemotingCommand) {
        let waiter = self
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&response.opaque);
        match waiter {
            Some(tx) => {
                let _ = tx.send(response);
            }
            None => {
                tracing::debug!(peer = %self.peer, opaque = response.opaque, "response to no pending request")
            }
        }
    }
}

/// Runs `stream` until either side closes it, serving the peer's requests with `handler`.
/// Returns the connection at once; the work happens in spawned tasks.
pub fn start<H: Handler>(stream: TcpStream, handler: Arc<H>, config: &ConnectionConfig) -> Arc<Connection> {
    let peer = stream
        .peer_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    let _ = stream.set_nodelay(true);
    let (read, write) = stream.into_split();
    let (queue, rx) = mpsc::channel(config.write_queue.max(1));
    let (closed, _) = watch::channel(false);
    let connection = Arc::new(Connection {
        peer,
        queue,
        pending: Mutex::new(HashMap::new()),
        next_opaque: AtomicI32::new(1),
        closed,
        write_timeout: config.write_timeout,
    });
    tokio::spawn(write_loop(connection.clone(), write, rx));
    tokio::spawn(read_loop(connection.clone(), read, handler, config.clone()));
    connection
}

async fn write_loop(
    connection: Arc<Connection>,
    mut write: OwnedWriteHalf,
    mut rx: mpsc::Receiver<RemotingCommand>,
) {
    let mut closed = connection.closed.subscribe();
    let mut buf = BytesMut::with_capacity(64 * 1024);
    loop {
        let command = tokio::select! {
            command = rx.recv() => command,
            _ = closed.wait_for(|c| *c) => None,
        };
        let Some(command) = command else { break };
        frame::encode(&command, SerializeType::Json, &mut buf);
        // Coalesce whatever else is queued into the same write.
        while buf.len() < 256 * 1024 {
            match rx.try_recv() {
                Ok(more) => frame::encode(&more, SerializeType::Json, &mut buf),
                Err(_) => break,
            }
        }
        // A peer that stops reading blocks this write; closing the connection (the senders'
        // write timeout does) must still end it, so the socket is released.
        let written = tokio::select! {
            written = write.write_all(&buf) => written,
            _ = closed.wait_for(|c| *c) => break,
        };
        if let Err(err) = written {
            tracing::debug!(peer = %connection.peer, %err, "write failed");
            // A peer that closed with our answers unread resets the connection, so this write
            // fails; but what it sent before closing (a consumer's last offset commits, oneway)
            // may still sit unread in our receive buffer. Closing now would make the read side
            // drop it; instead the read side reads to the end and closes then, while answers
            // are discarded here so no sender blocks. Bounded, for a socket that broke without
            // its read side noticing.
            let discard = async {
                loop {
                    tokio::select! {
                        command = rx.recv() => if command.is_none() { break },
                        _ = closed.wait_for(|c| *c) => break,
                    }
                }
            };
            let _ = tokio::time::timeout(connection.write_timeout, discard).await;
            break;
        }
        buf.clear();
    }
    connection.close();
    let _ = write.shutdown().await;
}

async fn read_loop<H: Handler>(
    connection: Arc<Connection>,
    mut read: OwnedReadHalf,
    handler: Arc<H>,
    config: ConnectionConfig,
) {
    let mut closed = connection.closed.subscribe();
    let in_flight = Arc::new(Semaphore::new(config.max_in_flight.max(1)));
    let mut buf = BytesMut::with_capacity(64 * 1024);
    'reading: loop {
        loop {
            match frame::decode(&mut buf, config.max_frame) {
                Ok(Some((command, _))) => {
                    if command.flag & FLAG_RESPONSE != 0 {
                        connection.complete(command);
                        continue;
                    }
                    let Ok(permit) = in_flight.clone().acquire_owned().await else {
                        break 'reading;
                    };
                    let (connection, handler) = (connection.clone(), handler.clone());
                    tokio::spawn(async move {
                        let oneway = command.is_oneway();
                        let opaque = command.opaque;
                        let response = handler.handle(connection.clone(), command).await;
                        if let (false, Some(mut response)) = (oneway, response) {
                            response.opaque = opaque;
                            response.flag |= FLAG_RESPONSE;
                            let _ = connection.send(response).await;
                        }
                        // Held until the answer is queued, so a peer that does not read its
                        // answers stops being read from too (bounded memory per connection).
                        drop(permit);
                    });
                }
                Ok(None) => break,
                Err(err) => {
                    tracing::warn!(peer = %connection.peer, %err, "closing connection on a bad frame");
                    break 'reading;
                }
            }
        }
        let read_result = tokio::select! {
            r = read.read_buf(&mut buf) => r,
            _ = closed.wait_for(|c| *c) => break 'reading,
        };
        match read_result {
            Ok(0) => break,
            Ok(_) => {}
            Err(err) => {
                tracing::debug!(peer = %connection.peer, %err, "read failed");
                break;
            }
        }
    }
    connection.close();
    // Dropping the waiters fails every request still awaiting an answer.
    connection
        .pending
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clear();
    handler.on_close(&connection);
}

/// Connects to `addr` and serves the requests the peer sends back with `handler`.
pub async fn connect<H: Handler>(
    addr: &str,
    handler: Arc<H>,
    config: &ConnectionConfig,
) -> Result<Arc<Connection>, RemotingError> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|source| RemotingError::Io {
            op: "connect to",
            peer: addr.to_owned(),
            source,
        })?;
    Ok(start(stream, handler, config))
}
