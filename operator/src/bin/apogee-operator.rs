//! `apogee-operator`: the Kubernetes operator for `RocketMQCluster`. For now it only prints
//! its CustomResourceDefinition; the controller comes next.

use std::io::Write;

use clap::{Parser, Subcommand};

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
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Crd => {
            let yaml = apogee_operator::crd::crd_yaml()?;
            std::io::stdout().lock().write_all(yaml.as_bytes())?;
        }
    }
    Ok(())
}
