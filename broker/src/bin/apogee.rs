//! `apogee`: the Apogee server binary.

use std::path::PathBuf;

use std::net::{IpAddr, Ipv4Addr};

use anyhow::Context;
use apogee_broker::{
    broker::{Listen, RunningBroker, runtime::advertised_ip},
    config::{BrokerConfig, BrokerRole, NamesrvConfig, ProcessEnv},
    namesrv::NameServer,
    remoting::{ConnectionConfig, Server},
    standalone::{Standalone, StandaloneOptions},
    store::{MessageStore, StoreConfig},
};
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "apogee", version, about = "RocketMQ-compatible NameServer and Broker")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs a NameServer (`namesrv.conf` keys; defaults: port 9876).
    Namesrv {
        /// A `namesrv.conf` properties file.
        #[arg(short = 'c', long = "config")]
        config: Option<PathBuf>,
    },
    /// Runs a Broker (`broker.conf` keys, RocketMQ's names; defaults: port 10911).
    Broker {
        /// A `broker.conf` properties file.
        #[arg(short = 'c', long = "config")]
        config: Option<PathBuf>,
        /// This pod's ordinal in its StatefulSet (the `pod-index` label): it becomes
        /// `brokerId`, and any ordinal above 0 runs as `SLAVE`.
        #[arg(long, conflicts_with = "pod_name")]
        ordinal: Option<String>,
        /// This pod's name, `<statefulset>-<ordinal>` (what the operator passes): the
        /// StatefulSet's name becomes `brokerName` and the ordinal `brokerId` (above 0, a
        /// `SLAVE`). A different `brokerName` in the file is refused.
        #[arg(long)]
        pod_name: Option<String>,
        /// Address the listeners bind to (remoting, HA, metrics).
        #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::UNSPECIFIED))]
        bind: IpAddr,
    },
    /// Runs `apogee-operator` (installed beside this binary, as in the image) with the rest of
    /// the arguments, so one entrypoint serves every process.
    #[command(disable_help_flag = true)]
    Operator {
        /// Arguments for `apogee-operator`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
    /// Opens (and recovers) a store directory, prints what recovery found and per-queue
    /// offsets, then closes it cleanly.
    Inspect {
        /// The store root (`storePathRootDir`).
        #[arg(long, default_value_os_t = default_store_dir())]
        store: PathBuf,
    },
    /// Runs a NameServer (port 9876) and a Broker (port 10911) in one process, storing in
    /// `~/.apogee/store` unless told otherwise, until Ctrl-C.
    Standalone {
        /// The store root (`storePathRootDir`).
        #[arg(long, default_value_os_t = default_store_dir())]
        store: PathBuf,
        /// Extra `broker.conf` settings (listenPort, namesrvAddr and storePathRootDir are
        /// this command's own).
        #[arg(short = 'c', long = "config")]
        config: Option<PathBuf>,
        /// NameServer port.
        #[arg(long, default_value_t = 9876)]
        namesrv_port: u16,
        /// Broker port.
        #[arg(long, default_value_t = 10911)]
        broker_port: u16,
        /// Address both servers bind to; the broker advertises it (loopback when unspecified)
        /// unless `brokerIP1` is set.
        #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::UNSPECIFIED))]
        bind: IpAddr,
        /// Port of the Prometheus endpoint (`/metrics`, `/healthz`, `/readyz`).
        #[arg(long, default_value_t = 5557)]
        metrics_port: u16,
        /// Serve no metrics endpoint.
        #[arg(long)]
        no_metrics: bool,
    },
}

fn default_store_dir() -> PathBuf {
    std::env::var_os("HOME").map_or_else(
        || PathBuf::from("store"),
        |h| PathBuf::from(h).join(".apogee/store"),
    )
}

/// Settings matching an existing store: the segment size is read off its first segment file,
/// so any store can be inspected without knowing how it was configured.
fn inspect_config(root: &std::path::Path) -> StoreConfig {
    let mut config = StoreConfig::new(root);
    let first = std::fs::read_dir(config.commit_log_dir())
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.metadata().ok().filter(|m| m.is_file() && m.len() >= 4096))
        .map(|m| m.len())
        .next();
    if let Some(size) = first.and_then(|s| usize::try_from(s).ok()) {
        config.commit_log_segment_size = size;
        config.max_message_size = config.max_message_size.min(size / 2);
    }
    config
}

async fn run_namesrv(config: NamesrvConfig) -> anyhow::Result<()> {
    let stopped = stop_signal()?;
    let addr = format!("0.0.0.0:{}", config.listen_port);
    let server = Server::bind(&addr, ConnectionConfig::default()).await?;
    tracing::info!(addr = %server.local_addr(), "name server listening");
    let namesrv = NameServer::new(config)?;
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let serving = tokio::spawn(namesrv.run(server, stop_rx));
    stopped.await;
    stop.send_replace(true);
    serving.await?;
    Ok(())
}

/// A StatefulSet pod's identity: its ordinal is its `brokerId`; ordinal 0 keeps the file's
/// master role, every other ordinal is a slave. The result is validated like a file would be.
fn with_ordinal(mut config: BrokerConfig, ordinal: &str) -> anyhow::Result<BrokerConfig> {
    let id: u64 = ordinal.trim().parse().map_err(|_| {
        anyhow::anyhow!(
            "--ordinal: {ordinal:?} is not a pod ordinal (a number); under the operator it comes \
             from the pod label apps.kubernetes.io/pod-index (Kubernetes 1.28+)"
        )
    })?;
    config.broker_id = id;
    if id > 0 {
        config.broker_role = BrokerRole::Slave;
    }
    Ok(BrokerConfig::from_properties(
        &config.to_properties(),
        &format!("broker config with --ordinal {id}"),
        &ProcessEnv,
    )?)
}

/// A StatefulSet pod's identity from its name, `<statefulset>-<ordinal>`: the StatefulSet's
/// name is the group's `brokerName`, the ordinal as for `--ordinal`. A file naming another
/// group (a ConfigMap mounted into the wrong StatefulSet) is refused rather than joining the
/// pod to that group; a file without `brokerName` (whose default is the host name) takes it.
fn with_pod_name(mut config: BrokerConfig, pod: &str) -> anyhow::Result<BrokerConfig> {
    let (set, ordinal) = pod
        .rsplit_once('-')
        .filter(|(set, ordinal)| !set.is_empty() && !ordinal.is_empty())
        .ok_or_else(|| {
            anyhow::anyhow!(
                "--pod-name: {pod:?} is not a StatefulSet pod name (<statefulset>-<ordinal>); under \
                 the operator it comes from the pod's metadata.name"
            )
        })?;
    let unset = apogee_broker::config::ConfigEnv::host_name(&ProcessEnv)
        .unwrap_or_else(|| apogee_broker::config::broker::DEFAULT_BROKER_NAME.to_owned());
    if config.broker_name != set && config.broker_name != unset {
        anyhow::bail!(
            "--pod-name {pod}: the pod belongs to StatefulSet {set}, but the config file sets \
             brokerName={}",
            config.broker_name
        );
    }
    config.broker_name = set.to_owned();
    with_ordinal(config, ordinal)
}

/// Takes over SIGINT (Ctrl-C) and SIGTERM (what Kubernetes sends a pod it stops) right away,
/// so a signal during start-up is not fatal; the returned future resolves on either.
fn stop_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = term.recv() => {}
        }
    })
}

async fn run_broker(config: BrokerConfig, bind: IpAddr) -> anyhow::Result<()> {
    let stopped = stop_signal()?;
    let listen = Listen {
        bind_ip: bind,
        advertised_ip: advertised_ip(&config, &ProcessEnv).await?,
    };
    let broker = RunningBroker::start(config, listen).await?;
    stopped.await;
    tracing::info!("stopping broker");
    broker.shutdown().await?;
    Ok(())
}

async fn run_standalone(options: StandaloneOptions) -> anyhow::Result<()> {
    let stopped = stop_signal()?;
    let node = Standalone::start(options, &ProcessEnv).await?;
    tracing::info!(
        namesrv = %node.namesrv_addr(),
        broker = %node.broker_addr(),
        metrics = ?node.broker().metrics_addr(),
        "standalone node ready: point clients at the NameServer; Ctrl-C to stop"
    );
    stopped.await;
    tracing::info!("stopping");
    node.shutdown().await?;
    Ok(())
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

/// Logs to stderr: readable text with colours for a person at a terminal, JSON lines (one
/// object per event) anywhere else, such as a container's log. `APOGEE_LOG` sets the levels
/// (`info`, `apogee_broker::broker=debug`, …); `APOGEE_LOG_FORMAT=text|json` overrides the choice.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("APOGEE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let json = match std::env::var("APOGEE_LOG_FORMAT").as_deref() {
        Ok("json") => true,
        Ok("text") => false,
        _ => !terminal,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.with_ansi(terminal).init();
    }
}

fn main() -> anyhow::Result<()> {
    init_logging();
    let cli = Cli::parse();
    match cli.command {
        Command::Namesrv { config } => {
            let config = match config {
                Some(path) => NamesrvConfig::load(&path)?,
                None => NamesrvConfig::defaults(&ProcessEnv)?,
            };
            runtime()?.block_on(run_namesrv(config))?;
        }
        Command::Broker {
            config,
            bind,
            ordinal,
            pod_name,
        } => {
            let mut config = match &config {
                Some(path) => BrokerConfig::load(path)?,
                None => BrokerConfig::defaults(&ProcessEnv)?,
            };
            if let Some(ordinal) = ordinal {
                config = with_ordinal(config, &ordinal)?;
            }
            if let Some(pod) = pod_name {
                config = with_pod_name(config, &pod)?;
            }
            runtime()?.block_on(run_broker(config, bind))?;
        }
        Command::Operator { args } => {
            let me = std::env::current_exe().context("locating this binary")?;
            let operator = me.with_file_name("apogee-operator");
            let err =
                std::os::unix::process::CommandExt::exec(std::process::Command::new(&operator).args(args));
            return Err(anyhow::Error::new(err).context(format!("running {}", operator.display())));
        }
        Command::Inspect { store } => {
            let config = inspect_config(&store);
            let store = MessageStore::open(config).with_context(|| format!("opening {}", store.display()))?;
            println!("{:#?}", store.recovery_report());
            println!(
                "commit log: min {} max {} flushed {}",
                store.min_physical_offset(),
                store.max_physical_offset(),
                store.flushed_physical_offset()
            );
            store.shutdown()?;
        }
        Command::Standalone {
            store,
            config,
            namesrv_port,
            broker_port,
            bind,
            metrics_port,
            no_metrics,
        } => {
            let broker_properties = match &config {
                Some(path) => {
                    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
                }
                None => String::new(),
            };
            let options = StandaloneOptions {
                store_root: store,
                namesrv_port,
                broker_port,
                broker_properties,
                bind_ip: bind,
                metrics_port: (!no_metrics).then_some(metrics_port),
            };
            runtime()?.block_on(run_standalone(options))?;
        }
    }
    Ok(())
}
