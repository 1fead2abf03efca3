//! Apogee's NameServer + Broker in this process, on loopback, on their own runtime; and what the
//! broker says about a consumer group's offsets, asked over the remoting protocol as any client
//! would ask.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use apogee_broker::{
    config::FixedEnv,
    protocol::{RemotingCommand, code::request, code::response},
    remoting::{Connection, ConnectionConfig, RefuseCallbacks, connect},
    standalone::{Standalone, StandaloneOptions},
};

/// The broker's name; clients name queues `brokerName:queueId`.
pub const BROKER: &str = "rust-client-broker";

/// One broker (brokerName: [`BROKER`]); topics created on first send (4 queues, the client's
/// default); a small commit-log segment, since each test preallocates its own.
const BROKER_PROPERTIES: &str = "\
brokerClusterName=RustClientCluster
brokerId=0
brokerRole=ASYNC_MASTER
flushDiskType=ASYNC_FLUSH
autoCreateTopicEnable=true
mappedFileSizeCommitLog=16777216
";

const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

/// A node, stopped cleanly on drop.
#[derive(Debug)]
pub struct Node {
    pub namesrv: String,
    node: Option<Standalone>,
    rt: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

impl Node {
    pub fn start() -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let dir = tempfile::tempdir().expect("store directory");
        let env = FixedEnv::new().with_var("HOME", dir.path().to_str().expect("UTF-8 temp path"));
        let mut options = StandaloneOptions::loopback(dir.path().join("store"));
        options.broker_properties = format!("brokerName={BROKER}\n{BROKER_PROPERTIES}");
        let node = rt
            .block_on(Standalone::start(options, &env))
            .unwrap_or_else(|e| panic!("Apogee standalone did not start: {e}"));
        Self {
            namesrv: node.namesrv_addr().to_string(),
            node: Some(node),
            rt,
            _dir: dir,
        }
    }

    fn node(&self) -> &Standalone {
        self.node.as_ref().expect("running")
    }

    fn connect(&self) -> Arc<Connection> {
        let addr = self.node().broker_addr().to_string();
        self.rt
            .block_on(connect(
                &addr,
                Arc::new(RefuseCallbacks),
                &ConnectionConfig::default(),
            ))
            .expect("connect to the broker")
    }

    fn call(&self, conn: &Connection, req: RemotingCommand) -> RemotingCommand {
        self.rt
            .block_on(conn.request(req, REQUEST_TIMEOUT))
            .expect("the broker answers")
    }

    /// Queue id → (max offset, the group's committed offset, if any), for queues `0..queues`.
    pub fn progress(&self, group: &str, topic: &str, queues: i32) -> BTreeMap<i32, (i64, Option<i64>)> {
        let conn = self.connect();
        let progress = (0..queues)
            .map(|q| {
                let max = self.call(
                    &conn,
                    RemotingCommand::request(request::GET_MAX_OFFSET, 0)
                        .with_field("topic", topic)
                        .with_field("queueId", q),
                );
                assert_eq!(max.code, response::SUCCESS, "GET_MAX_OFFSET {topic}:{q}: {max:?}");
                let max: i64 = max.field("offset").expect("offset").parse().expect("a number");
                let committed = self.call(
                    &conn,
                    RemotingCommand::request(request::QUERY_CONSUMER_OFFSET, 0)
                        .with_field("consumerGroup", group)
                        .with_field("topic", topic)
                        .with_field("queueId", q),
                );
                let committed = match committed.code {
                    response::SUCCESS => Some(
                        committed
                            .field("offset")
                            .expect("offset")
                            .parse()
                            .expect("a number"),
                    ),
                    response::QUERY_NOT_FOUND => None,
                    _ => panic!("QUERY_CONSUMER_OFFSET {group} {topic}:{q}: {committed:?}"),
                };
                (q, (max, committed))
            })
            .collect();
        conn.close();
        progress
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(node) = self.node.take() {
            let stopped = self
                .rt
                .block_on(async { tokio::time::timeout(SHUTDOWN_TIMEOUT, node.shutdown()).await });
            if !std::thread::panicking() {
                stopped
                    .expect("Apogee shut down within 30 s")
                    .expect("Apogee shut down cleanly");
            }
        }
    }
}
