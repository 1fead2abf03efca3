//! `apogee`: the Apogee server binary.

use std::path::PathBuf;

use anyhow::Context;
use apogee_broker::{
    config::{NamesrvConfig, ProcessEnv},
    namesrv::NameServer,
    remoting::{ConnectionConfig, Server},
    store::{FlushDiskType, MessageStore, StoreConfig},
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
    /// Opens (and recovers) a store directory, prints what recovery found and per-queue
    /// offsets, then closes it cleanly.
    Inspect {
        /// The store root (`storePathRootDir`).
        #[arg(long, default_value_os_t = default_store_dir())]
        store: PathBuf,
    },
    /// Runs the storage engine on the embedded default data directory until Ctrl-C.
    Standalone {
        /// The store root (`storePathRootDir`).
        #[arg(long, default_value_os_t = default_store_dir())]
        store: PathBuf,
        /// `SYNC_FLUSH` or `ASYNC_FLUSH`.
        #[arg(long, default_value = "ASYNC_FLUSH")]
        flush_disk_type: FlushDiskType,
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
    let addr = format!("0.0.0.0:{}", config.listen_port);
    let server = Server::bind(&addr, ConnectionConfig::default()).await?;
    tracing::info!(addr = %server.local_addr(), "name server listening");
    let namesrv = NameServer::new(config)?;
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let serving = tokio::spawn(namesrv.run(server, stop_rx));
    tokio::signal::ctrl_c().await?;
    stop.send_replace(true);
    serving.await?;
    Ok(())
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("APOGEE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Namesrv { config } => {
            let config = match config {
                Some(path) => NamesrvConfig::load(&path)?,
                None => NamesrvConfig::defaults(&ProcessEnv)?,
            };
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            runtime.block_on(run_namesrv(config))?;
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
            flush_disk_type,
        } => {
            let config = StoreConfig {
                flush_disk_type,
                ..StoreConfig::new(&store)
            };
            let opened =
                MessageStore::open(config).with_context(|| format!("opening {}", store.display()))?;
            tracing::info!(store = %store.display(), "store ready; the remoting server arrives with the NameServer/Broker work. Ctrl-C to stop");
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async { tokio::signal::ctrl_c().await })?;
            opened.shutdown()?;
        }
    }
    Ok(())
}
