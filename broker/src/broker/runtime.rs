//! A running broker: the listeners, the registration loop and the housekeeping tasks around a
//! [`BrokerContext`], started together and stopped in the order that loses nothing (stop
//! accepting, unregister, persist offsets, close the store).

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::{sync::watch, task::JoinHandle};

use super::{
    context::BrokerContext,
    error::BrokerError,
    membership,
    registration::{Identity, Registrar},
    router::BrokerHandler,
    schedule, transaction_check,
};
use crate::{
    config::{BrokerConfig, ConfigEnv, MetricsExporterType},
    metrics::http::MetricsServer,
    remoting::{ConnectionConfig, Server},
    replication::{self, MasterAddrs},
    store::clock,
};

/// How often committed offsets are written (`flushConsumerOffsetInterval`).
const OFFSET_PERSIST_INTERVAL: Duration = Duration::from_secs(5);
/// How often silent clients are looked for.
const CLIENT_SCAN_INTERVAL: Duration = Duration::from_secs(10);
/// How soon a slave registers again while the NameServers do not know its master yet.
const MASTER_SEARCH_RETRY: Duration = Duration::from_secs(1);
/// How often counters are sampled for rates.
const STATS_SAMPLE_INTERVAL: Duration = Duration::from_secs(1);

/// The address clients and slaves reach this broker at: `brokerIP1`, else the first
/// non-loopback IPv4 address the host name resolves to (a pod's IP under Kubernetes), else
/// loopback.
pub async fn advertised_ip(config: &BrokerConfig, env: &dyn ConfigEnv) -> Result<IpAddr, BrokerError> {
    if let Some(ip) = &config.broker_ip1 {
        return ip
            .parse()
            .map_err(|_| BrokerError::Config(format!("brokerIP1: {ip:?} is not an IP address")));
    }
    if let Some(host) = env.host_name()
        && let Ok(addrs) = tokio::net::lookup_host((host.as_str(), 0)).await
        && let Some(found) = addrs
            .map(|a| a.ip())
            .find(|ip| ip.is_ipv4() && !ip.is_loopback() && !ip.is_unspecified())
    {
        return Ok(found);
    }
    Ok(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

/// A started broker.
#[derive(Debug)]
pub struct RunningBroker {
    ctx: Arc<BrokerContext>,
    stop: watch::Sender<bool>,
    serving: Vec<JoinHandle<()>>,
    registrar: Arc<Registrar>,
    addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
}

/// Where a broker listens and what it advertises.
#[derive(Debug, Clone)]
pub struct Listen {
    /// Address to bind (`0.0.0.0` in production, loopback in tests).
    pub bind_ip: IpAddr,
    /// IP written into registrations and offsetMsgIds.
    pub advertised_ip: IpAddr,
}

impl RunningBroker {
    /// Binds the listeners, opens the store and starts serving. `listenPort` 0 binds any free
    /// port (tests); the VIP port (`listenPort - 2`) is bound too when a fixed port is set, as
    /// older clients may use it.
    pub async fn start(config: BrokerConfig, listen: Listen) -> Result<Self, BrokerError> {
        let connection = ConnectionConfig::default();
        let server = Server::bind(
            &SocketAddr::new(listen.bind_ip, config.listen_port).to_string(),
            connection.clone(),
        )
        .await?;
        let port = server.local_addr().port();
        let vip = match config.vip_listen_port().filter(|_| config.listen_port != 0) {
            Some(vip_port) => {
                let addr = SocketAddr::new(listen.bind_ip, vip_port).to_string();
                match Server::bind(&addr, connection).await {
                    Ok(server) => Some(server),
                    Err(err) => {
                        tracing::warn!(%err, "VIP channel port not available; clients using it will fall back");
                        None
                    }
                }
            }
            None => None,
        };
        // Bound before the store opens, so a taken port fails the start with nothing running.
        let metrics = match config.metrics_exporter_type {
            MetricsExporterType::Prom => {
                let addr = SocketAddr::new(listen.bind_ip, config.metrics_prom_exporter_port);
                Some(MetricsServer::bind(addr).await.map_err(|source| {
                    BrokerError::Remoting(crate::remoting::RemotingError::Io {
                        op: "listen for metrics (metricsPromExporterPort) on",
                        peer: addr.to_string(),
                        source,
                    })
                })?)
            }
            MetricsExporterType::Disable => None,
        };
        let addr = SocketAddr::new(listen.advertised_ip, port);
        // A master serves its log to slaves on haListenPort (listenPort + 1 by default).
        let ha_listener = if config.broker_id == 0 {
            // With listenPort 0 (tests) an unset haListenPort is any free port too.
            let ha_port = if config.listen_port == 0 {
                config.ha_listen_port.unwrap_or(0)
            } else {
                config.ha_listen_port().unwrap_or(0)
            };
            let ha_addr = SocketAddr::new(listen.bind_ip, ha_port);
            Some(tokio::net::TcpListener::bind(ha_addr).await.map_err(|source| {
                BrokerError::Remoting(crate::remoting::RemotingError::Io {
                    op: "listen for slaves (haListenPort) on",
                    peer: ha_addr.to_string(),
                    source,
                })
            })?)
        } else {
            None
        };
        let ha_port = match &ha_listener {
            Some(l) => l.local_addr().map_or(0, |a| a.port()),
            None => config.ha_listen_port().unwrap_or(0),
        };
        let ha_ip = config
            .broker_ip2
            .clone()
            .unwrap_or_else(|| listen.advertised_ip.to_string());
        let identity = Identity {
            cluster: config.broker_cluster_name.clone(),
            broker_name: config.broker_name.clone(),
            broker_addr: addr.to_string(),
            broker_id: i64::try_from(config.broker_id).unwrap_or(i64::MAX),
            ha_server_addr: format!("{ha_ip}:{ha_port}"),
            heartbeat_timeout: Duration::from_secs(120),
        };
        let namesrv = config.namesrv_addr.clone();
        let period = config.register_name_server_period;
        let ctx = Arc::new(BrokerContext::open(config, addr)?);
        let registrar = {
            let ctx = ctx.clone();
            Arc::new(Registrar::new(identity, namesrv, move || ctx.registered_topics()))
        };
        let (stop, stop_rx) = watch::channel(false);
        let handler = Arc::new(BrokerHandler::new(ctx.clone()));
        let mut serving = vec![tokio::spawn(server.serve(handler.clone(), stop_rx.clone()))];
        if let Some(vip) = vip {
            serving.push(tokio::spawn(vip.serve(handler, stop_rx.clone())));
        }
        serving.push(tokio::spawn(register_loop(
            ctx.clone(),
            registrar.clone(),
            period,
            stop_rx.clone(),
        )));
        if let Some(ha) = ha_listener {
            serving.push(tokio::spawn(replication::master::serve(
                ha,
                ctx.clone(),
                stop_rx.clone(),
            )));
        }
        if ctx.is_master() {
            serving.push(tokio::spawn(schedule::run(ctx.clone(), stop_rx.clone())));
            serving.push(tokio::spawn(transaction_check::run(ctx.clone(), stop_rx.clone())));
        } else {
            serving.push(tokio::spawn(replication::slave::run(
                ctx.clone(),
                stop_rx.clone(),
            )));
            serving.push(tokio::spawn(replication::metadata_sync::run(
                ctx.clone(),
                stop_rx.clone(),
            )));
        }
        let metrics_addr = match metrics {
            Some(metrics) => {
                let bound = metrics.local_addr().ok();
                serving.push(tokio::spawn(metrics.serve(ctx.clone(), stop_rx.clone())));
                bound
            }
            None => None,
        };
        serving.push(tokio::spawn(housekeeping(ctx.clone(), stop_rx)));
        tracing::info!(
            %addr,
            broker = %ctx.config.broker_name,
            cluster = %ctx.config.broker_cluster_name,
            role = %ctx.config.broker_role,
            store = %ctx.store_root().display(),
            "broker serving"
        );
        Ok(Self {
            ctx,
            stop,
            serving,
            registrar,
            addr,
            metrics_addr,
        })
    }

    /// Where `/metrics` is served, when `metricsExporterType=PROM`.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// The advertised `ip:port` (what the NameServers hand to clients).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The shared state (for tests and the metrics endpoint).
    pub fn context(&self) -> &Arc<BrokerContext> {
        &self.ctx
    }

    /// Registers with every NameServer now (the periodic rounds go on); true when all took
    /// it. Lets a caller that owns the NameServer too return only once routes exist.
    pub async fn register_now(&self) -> bool {
        self.registrar
            .register_all()
            .await
            .iter()
            .all(|(_, outcome)| outcome.is_ok())
    }

    /// Stops accepting, closes client connections, unregisters from every NameServer,
    /// persists offsets and closes the store cleanly.
    pub async fn shutdown(self) -> Result<(), BrokerError> {
        self.stop.send_replace(true);
        for task in self.serving {
            let _ = task.await;
        }
        self.registrar.unregister_all().await;
        let ctx = self.ctx;
        tokio::task::spawn_blocking(move || ctx.close())
            .await
            .map_err(|e| BrokerError::Config(format!("store shutdown task failed: {e}")))??;
        Ok(())
    }
}

/// Registers every `period`, and at once when a topic was created or deleted.
async fn register_loop(
    ctx: Arc<BrokerContext>,
    registrar: Arc<Registrar>,
    period: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(period);
    loop {
        // A slave that has not learnt its master yet (it started first) asks again soon.
        let searching = !ctx.is_master() && ctx.replication.master().ha.is_none();
        let retry = tokio::time::sleep(if searching { MASTER_SEARCH_RETRY } else { period });
        tokio::select! {
            _ = tick.tick() => {}
            () = retry => {}
            () = ctx.register_now.notified() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let results = registrar.register_all().await;
        if results.iter().any(|(_, r)| r.is_ok()) {
            ctx.registered.store(true, std::sync::atomic::Ordering::Release);
        }
        if !ctx.is_master() {
            // A slave learns its master from the NameServers' answers.
            if let Some(found) = results
                .iter()
                .filter_map(|(_, r)| r.as_ref().ok())
                .find(|r| r.master_addr.is_some() || r.ha_server_addr.is_some())
            {
                ctx.replication.set_master(MasterAddrs {
                    broker: found.master_addr.clone().filter(|a| !a.is_empty()),
                    ha: found.ha_server_addr.clone().filter(|a| !a.is_empty()),
                });
            }
        }
    }
}

/// Offset persistence, client expiry and counter sampling.
async fn housekeeping(ctx: Arc<BrokerContext>, mut stop: watch::Receiver<bool>) {
    let mut persist = tokio::time::interval(OFFSET_PERSIST_INTERVAL);
    let mut scan = tokio::time::interval(CLIENT_SCAN_INTERVAL);
    let mut sample = tokio::time::interval(STATS_SAMPLE_INTERVAL);
    loop {
        tokio::select! {
            _ = persist.tick() => {
                if let Err(err) = ctx.offsets.persist() {
                    tracing::error!(%err, "persisting consumer offsets failed");
                }
            }
            _ = scan.tick() => {
                let changed = ctx.clients.expire(Instant::now());
                membership::notify_changed(&ctx, &changed);
            }
            _ = sample.tick() => ctx.stats.sample(Instant::now(), clock::now_millis()),
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}
