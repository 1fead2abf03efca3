//! Keeping a broker registered with every NameServer.
//!
//! Every round (each `registerNameServerPeriod`, 30 s), the `namesrvAddr` entries are resolved
//! again and the broker registers with **every** address they resolve to, so one DNS name (a
//! Kubernetes headless Service) reaches all NameServer pods, and scaling them needs no broker
//! restart. One long-lived connection is kept per NameServer address: the NameServer drops a
//! broker's routes as soon as the connection it registered on closes.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use tokio::sync::watch;

use crate::{
    config::NamesrvAddr,
    namesrv::route_data::{RegisterBrokerBody, TopicConfigWrapper, to_json},
    protocol::{RemotingCommand, code::request, code::response},
    remoting::{Connection, ConnectionConfig, RefuseCallbacks, RemotingError, connect},
    store::record::body_crc,
};

/// Who the broker is, as it registers.
#[derive(Debug, Clone)]
pub struct Identity {
    /// `brokerClusterName`.
    pub cluster: String,
    /// `brokerName`.
    pub broker_name: String,
    /// `brokerIP1:listenPort`.
    pub broker_addr: String,
    /// `brokerId`.
    pub broker_id: i64,
    /// `brokerIP2:haListenPort`.
    pub ha_server_addr: String,
    /// How long a NameServer keeps the registration without a refresh.
    pub heartbeat_timeout: Duration,
}

/// What a NameServer answered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Registered {
    /// The group's master address (for slaves).
    pub master_addr: Option<String>,
    /// The master's HA address (for slaves).
    pub ha_server_addr: Option<String>,
}

/// The registration loop's state.
pub struct Registrar {
    identity: Identity,
    namesrv: Vec<NamesrvAddr>,
    topics: Box<dyn Fn() -> TopicConfigWrapper + Send + Sync>,
    connections: Mutex<HashMap<SocketAddr, Arc<Connection>>>,
    timeout: Duration,
}

impl std::fmt::Debug for Registrar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registrar")
            .field("identity", &self.identity)
            .field("namesrv", &self.namesrv)
            .finish()
    }
}

impl Registrar {
    /// A registrar for `identity` that sends the topics `topics` returns each round.
    pub fn new(
        identity: Identity,
        namesrv: Vec<NamesrvAddr>,
        topics: impl Fn() -> TopicConfigWrapper + Send + Sync + 'static,
    ) -> Self {
        Self {
            identity,
            namesrv,
            topics: Box::new(topics),
            connections: Mutex::default(),
            timeout: Duration::from_secs(3),
        }
    }

    /// Every address the `namesrvAddr` entries resolve to now (all A/AAAA records of a name).
    pub async fn resolve(&self) -> Vec<SocketAddr> {
        let mut all = Vec::new();
        for entry in &self.namesrv {
            match tokio::net::lookup_host((entry.host.as_str(), entry.port)).await {
                Ok(addrs) => all.extend(addrs),
                Err(err) => tracing::warn!(namesrv = %entry, %err, "cannot resolve name server"),
            }
        }
        all.sort();
        all.dedup();
        all
    }

    fn request(&self) -> RemotingCommand {
        let body = to_json(&RegisterBrokerBody {
            topic_config_serialize_wrapper: (self.topics)(),
            filter_server_list: Vec::new(),
        });
        let id = &self.identity;
        RemotingCommand::request(request::REGISTER_BROKER, 0)
            .with_field("clusterName", &id.cluster)
            .with_field("brokerName", &id.broker_name)
            .with_field("brokerAddr", &id.broker_addr)
            .with_field("brokerId", id.broker_id)
            .with_field("haServerAddr", &id.ha_server_addr)
            .with_field("heartbeatTimeoutMillis", id.heartbeat_timeout.as_millis())
            .with_field("compressed", false)
            .with_field("bodyCrc32", body_crc(&body))
            .with_body(body)
    }

    async fn connection(&self, addr: SocketAddr) -> Result<Arc<Connection>, RemotingError> {
        let existing = self
            .connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&addr)
            .cloned();
        if let Some(conn) = existing.filter(|c| !c.is_closed()) {
            return Ok(conn);
        }
        let conn = connect(
            &addr.to_string(),
            Arc::new(RefuseCallbacks),
            &ConnectionConfig::default(),
        )
        .await?;
        self.connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(addr, conn.clone());
        Ok(conn)
    }

    /// One round: resolve, register with every address, drop connections to addresses that no
    /// longer resolve. Returns each NameServer's answer.
    pub async fn register_all(&self) -> Vec<(SocketAddr, Result<Registered, RemotingError>)> {
        let addrs = self.resolve().await;
        self.connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|addr, conn| {
                let keep = addrs.contains(addr);
                if !keep {
                    conn.close();
                }
                keep
            });
        let mut results = Vec::with_capacity(addrs.len());
        for addr in addrs {
            let outcome = async {
                let reply = self
                    .connection(addr)
                    .await?
                    .request(self.request(), self.timeout)
                    .await?;
                if reply.code != response::SUCCESS {
                    tracing::warn!(namesrv = %addr, code = reply.code, remark = ?reply.remark, "registration refused");
                }
                Ok(Registered {
                    master_addr: reply.field("masterAddr").map(str::to_owned),
                    ha_server_addr: reply.field("haServerAddr").map(str::to_owned),
                })
            };
            let outcome = outcome.await;
            if let Err(err) = &outcome {
                tracing::warn!(namesrv = %addr, %err, "registration failed");
            }
            results.push((addr, outcome));
        }
        results
    }

    /// Tells every NameServer this broker is leaving (clean shutdown), then closes the connections.
    pub async fn unregister_all(&self) {
        let conns: Vec<Arc<Connection>> = self
            .connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain()
            .map(|(_, c)| c)
            .collect();
        let id = &self.identity;
        for conn in conns {
            let req = RemotingCommand::request(request::UNREGISTER_BROKER, 0)
                .with_field("clusterName", &id.cluster)
                .with_field("brokerName", &id.broker_name)
                .with_field("brokerAddr", &id.broker_addr)
                .with_field("brokerId", id.broker_id);
            let _ = conn.request(req, self.timeout).await;
            conn.close();
        }
    }

    /// Registers every `period` until `shutdown` turns true, then unregisters.
    pub async fn run(self: Arc<Self>, period: Duration, mut shutdown: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(period);
        loop {
            tokio::select! {
                _ = tick.tick() => { self.register_all().await; }
                _ = shutdown.wait_for(|s| *s) => break,
            }
        }
        self.unregister_all().await;
    }
}
