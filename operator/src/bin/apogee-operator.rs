//! `apogee-operator`: the Kubernetes operator for `RocketMQCluster`. `run` reconciles;
//! `crd` prints the CustomResourceDefinition.

use std::{io::Write, net::SocketAddr, path::PathBuf, time::Duration};

use apogee_operator::{
    broker_admin::BrokerAddresses,
    controller::{Requeue, WatchScope},
    leader::LeaseConfig,
    rollout::Timeouts,
    run::{RunOptions, run},
};
use clap::{ArgAction, Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "apogee-operator",
    version,
    about = "Kubernetes operator for RocketMQCluster"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Prints the RocketMQCluster CustomResourceDefinition as YAML (what
    /// `crds/rocketmq.apogee.dev_rocketmqclusters.yaml` holds), for `kubectl apply -f -`.
    Crd,
    /// Reconciles RocketMQClusters. Finds the API server in-cluster (service account) or
    /// through KUBECONFIG / ~/.kube/config.
    Run(RunArgs),
}

#[derive(Debug, Args)]
struct RunArgs {
    /// Namespaces to watch, comma-separated; empty watches every namespace.
    #[arg(
        long,
        env = "APOGEE_WATCH_NAMESPACES",
        value_delimiter = ',',
        default_value = ""
    )]
    watch_namespaces: Vec<String>,
    /// Take part in leader election (a Lease) so one replica of several reconciles;
    /// `--leader-elect=false` reconciles at once.
    #[arg(long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1,
          require_equals = true, default_missing_value = "true")]
    leader_elect: bool,
    /// Namespace of the Lease (the operator's own namespace).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    lease_namespace: String,
    /// Name of the Lease.
    #[arg(long, default_value = "apogee-operator")]
    lease_name: String,
    /// Seconds a lease lasts unrenewed (renewed every third of it).
    #[arg(long, default_value_t = 15)]
    lease_duration_seconds: u64,
    /// This replica's identity in the Lease and in Events; the pod name by default.
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    /// Address of /metrics, /healthz and /readyz.
    #[arg(long, default_value = "0.0.0.0:8080")]
    http_addr: SocketAddr,
    /// File of `namespace/pod host:port` lines telling where broker pods' admin port is,
    /// instead of their DNS names (for test clusters whose pods run no process).
    #[arg(long)]
    broker_address_map: Option<PathBuf>,
    /// Seconds a master, made read-only, may take to drain before its restart; and a group
    /// being removed under scaleDownPolicy Force, before it is removed anyway.
    #[arg(long, default_value_t = 60)]
    drain_timeout_seconds: u64,
    /// Seconds a restarted pod may take to become ready.
    #[arg(long, default_value_t = 600)]
    ready_timeout_seconds: u64,
    /// Seconds between full resyncs of a cluster at rest.
    #[arg(long, default_value_t = 300)]
    resync_seconds: u64,
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Crd => {
            let yaml = apogee_operator::crd::crd_yaml()?;
            std::io::stdout().lock().write_all(yaml.as_bytes())?;
            Ok(())
        }
        Command::Run(args) => {
            init_logging();
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            runtime.block_on(serve(args))
        }
    }
}

async fn serve(args: RunArgs) -> anyhow::Result<()> {
    let client = kube::Client::try_default().await?;
    let identity = args.identity.clone().unwrap_or_else(default_identity);
    let lease = args.leader_elect.then(|| LeaseConfig {
        namespace: args.lease_namespace.clone(),
        name: args.lease_name.clone(),
        identity: identity.clone(),
        duration: Duration::from_secs(args.lease_duration_seconds.max(3)),
    });
    let options = RunOptions {
        scope: WatchScope::from_list(args.watch_namespaces),
        lease,
        identity,
        http_addr: args.http_addr,
        addresses: args
            .broker_address_map
            .map_or(BrokerAddresses::InCluster, BrokerAddresses::File),
        timeouts: Timeouts {
            drain: Duration::from_secs(args.drain_timeout_seconds),
            ready: Duration::from_secs(args.ready_timeout_seconds),
            ..Timeouts::default()
        },
        requeue: Requeue {
            idle: Duration::from_secs(args.resync_seconds.max(1)),
            ..Requeue::default()
        },
    };
    tracing::info!(?options.scope, leader_elect = options.lease.is_some(), "starting");
    run(client, options, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Host name and process id: unique among replicas even without POD_NAME.
fn default_identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "apogee-operator".to_owned());
    format!("{host}-{}", std::process::id())
}

/// SIGTERM (what the kubelet sends) or Ctrl-C.
async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async {
            match term.as_mut() {
                Some(term) => { term.recv().await; }
                None => std::future::pending::<()>().await,
            }
        } => {}
    }
}

/// Logs to stderr: text with colours at a terminal, JSON lines elsewhere (a container's log),
/// as the `apogee` binary does. `APOGEE_LOG` sets levels; `APOGEE_LOG_FORMAT=text|json`
/// overrides the choice.
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
