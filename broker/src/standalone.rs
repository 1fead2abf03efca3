//! A NameServer and a Broker in one process: what `apogee standalone` runs on a laptop, and
//! what the end-to-end suites start in-process. The broker registers with the NameServer over
//! loopback like any other broker would.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    path::PathBuf,
};

use tokio::{sync::watch, task::JoinHandle};

use crate::{
    broker::{
        error::BrokerError,
        runtime::{Listen, RunningBroker},
    },
    config::{BrokerConfig, ConfigEnv, MetricsExporterType, NamesrvAddr, NamesrvConfig},
    namesrv::NameServer,
    remoting::{ConnectionConfig, Server},
};

/// What to start.
#[derive(Debug, Clone)]
pub struct StandaloneOptions {
    /// `storePathRootDir` (the NameServer's KV file lives beside it).
    pub store_root: PathBuf,
    /// NameServer port; 0 picks a free one.
    pub namesrv_port: u16,
    /// Broker port; 0 picks a free one.
    pub broker_port: u16,
    /// Extra `broker.conf` lines (RocketMQ key names). The keys this node owns (listenPort,
    /// namesrvAddr, storePathRootDir) are set from the fields above.
    pub broker_properties: String,
    /// Address to bind both servers to.
    pub bind_ip: IpAddr,
    /// Serve `/metrics` on this port (0 picks one); `None` leaves the broker config's
    /// `metricsExporterType` as it is.
    pub metrics_port: Option<u16>,
}

impl StandaloneOptions {
    /// Loopback on free ports: what tests use.
    pub fn loopback(store_root: impl Into<PathBuf>) -> Self {
        Self {
            store_root: store_root.into(),
            namesrv_port: 0,
            broker_port: 0,
            broker_properties: String::new(),
            bind_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            metrics_port: None,
        }
    }
}

/// A running NameServer + Broker.
#[derive(Debug)]
pub struct Standalone {
    namesrv_addr: SocketAddr,
    stop_namesrv: watch::Sender<bool>,
    namesrv: JoinHandle<()>,
    broker: RunningBroker,
}

impl Standalone {
    /// Starts the NameServer, then the broker registered with it.
    pub async fn start(options: StandaloneOptions, env: &dyn ConfigEnv) -> Result<Self, BrokerError> {
        let mut broker_config =
            BrokerConfig::from_properties(&options.broker_properties, "broker properties", env)
                .map_err(|e| BrokerError::Config(e.to_string()))?;
        let mut namesrv_config =
            NamesrvConfig::defaults(env).map_err(|e| BrokerError::Config(e.to_string()))?;
        namesrv_config.kv_config_path = options.store_root.join("namesrv/kvConfig.json");
        let server = Server::bind(
            &SocketAddr::new(options.bind_ip, options.namesrv_port).to_string(),
            ConnectionConfig::default(),
        )
        .await?;
        let namesrv_addr = server.local_addr();
        let namesrv = NameServer::new(namesrv_config)?;
        let (stop_namesrv, stop_rx) = watch::channel(false);
        let namesrv = tokio::spawn(namesrv.run(server, stop_rx));
        broker_config.listen_port = options.broker_port;
        if let Some(port) = options.metrics_port {
            broker_config.metrics_exporter_type = MetricsExporterType::Prom;
            broker_config.metrics_prom_exporter_port = port;
        }
        broker_config.store_path_root_dir = options.store_root.clone();
        // A wildcard bind is reached over loopback from inside the process.
        let namesrv_host = match namesrv_addr.ip() {
            ip if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            ip => ip,
        };
        broker_config.namesrv_addr = vec![NamesrvAddr {
            host: namesrv_host.to_string(),
            port: namesrv_addr.port(),
        }];
        let advertised_ip = match &broker_config.broker_ip1 {
            Some(_) => crate::broker::runtime::advertised_ip(&broker_config, env).await?,
            None if options.bind_ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            None => options.bind_ip,
        };
        let listen = Listen {
            bind_ip: options.bind_ip,
            advertised_ip,
        };
        let broker = match RunningBroker::start(broker_config, listen).await {
            Ok(broker) => broker,
            Err(err) => {
                stop_namesrv.send_replace(true);
                let _ = namesrv.await;
                return Err(err);
            }
        };
        // The registrar's first round runs in the background; one here means that when this
        // returns, the NameServer already routes TBW102 and the broker's topics, so a client
        // started right away finds them (the Go consumer refuses a topic without a route).
        if !broker.register_now().await {
            tracing::warn!(%namesrv_addr, "first registration with the in-process NameServer failed; the periodic one retries");
        }
        Ok(Self {
            namesrv_addr,
            stop_namesrv,
            namesrv,
            broker,
        })
    }

    /// The NameServer's address (what clients are pointed at).
    pub fn namesrv_addr(&self) -> SocketAddr {
        self.namesrv_addr
    }

    /// The broker's advertised address.
    pub fn broker_addr(&self) -> SocketAddr {
        self.broker.addr()
    }

    /// The broker (its context, for tests).
    pub fn broker(&self) -> &RunningBroker {
        &self.broker
    }

    /// Stops the broker cleanly (unregistering it), then the NameServer.
    pub async fn shutdown(self) -> Result<(), BrokerError> {
        let stopped = self.broker.shutdown().await;
        self.stop_namesrv.send_replace(true);
        let _ = self.namesrv.await;
        stopped
    }
}
