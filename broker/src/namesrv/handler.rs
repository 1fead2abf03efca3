//! The NameServer's request handler: one match on the request code, each arm a table operation.

use std::{
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::{Duration, Instant},
};

use tokio::sync::watch;

use super::{
    kv_config::KvConfig,
    route_data::{KvTable, RegisterBrokerBody, TopicConfigWrapper, TopicList, to_json},
    route_table::{Registration, RouteTable},
};
use crate::{
    config::NamesrvConfig,
    protocol::{ProtocolError, RemotingCommand, code::request, code::response},
    remoting::{Connection, Handler, Server, request_log},
    store::{StoreError, record::body_crc},
};

/// KV namespace holding ordered-topic configs.
pub const ORDER_TOPIC_CONFIG: &str = "ORDER_TOPIC_CONFIG";
/// Request versions at or above this (V3_0_11) send a `RegisterBrokerBody`.
const REGISTER_BODY_SINCE_VERSION: i32 = 37;

/// The NameServer.
#[derive(Debug)]
pub struct NameServer {
    config: NamesrvConfig,
    table: Mutex<RouteTable>,
    kv: Mutex<KvConfig>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Connections are identified by the address of their shared state.
fn connection_id(connection: &Arc<Connection>) -> usize {
    Arc::as_ptr(connection) as usize
}

impl NameServer {
    /// A NameServer with `config`, loading its KV config file.
    pub fn new(config: NamesrvConfig) -> Result<Arc<Self>, StoreError> {
        let kv = KvConfig::load(config.kv_config_path.clone())?;
        Ok(Arc::new(Self {
            config,
            table: Mutex::new(RouteTable::default()),
            kv: Mutex::new(kv),
        }))
    }

    /// Serves `server` and expires silent brokers until `shutdown` turns true.
    pub async fn run(self: Arc<Self>, server: Server, shutdown: watch::Receiver<bool>) {
        let scanner = {
            let this = self.clone();
            let mut shutdown = shutdown.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(this.config.scan_not_active_broker_interval);
                loop {
                    tokio::select! {
                        _ = tick.tick() => {}
                        _ = shutdown.wait_for(|s| *s) => return,
                    }
                    for addr in lock(&this.table).expire(Instant::now()) {
                        tracing::warn!(broker = %addr, "broker registration expired");
                    }
                }
            })
        };
        server.serve(self, shutdown).await;
        let _ = scanner.await;
    }

    fn dispatch(
        &self,
        connection: &Arc<Connection>,
        req: &RemotingCommand,
    ) -> Result<RemotingCommand, ProtocolError> {
        let ok = || RemotingCommand::response_to(req, response::SUCCESS);
        Ok(match req.code {
            request::REGISTER_BROKER => return self.register(connection, req),
            request::UNREGISTER_BROKER => {
                lock(&self.table).unregister(&req.required::<String>("brokerAddr")?);
                ok()
            }
            request::BROKER_HEARTBEAT => {
                lock(&self.table).heartbeat(&req.required::<String>("brokerAddr")?, Instant::now());
                ok()
            }
            request::GET_ROUTEINFO_BY_TOPIC => {
                let topic: String = req.required("topic")?;
                let route = lock(&self.table).route(&topic);
                match route {
                    Some(mut route) => {
                        if self.config.order_message_enable {
                            route.order_topic_conf =
                                lock(&self.kv).get(ORDER_TOPIC_CONFIG, &topic).map(str::to_owned);
                        }
                        ok().with_body(to_json(&route))
                    }
                    None => RemotingCommand::response_to(req, response::TOPIC_NOT_EXIST).with_remark(
                        format!("No topic route info in name server for the topic: {topic}"),
                    ),
                }
            }
            request::GET_BROKER_CLUSTER_INFO => ok().with_body(to_json(&lock(&self.table).cluster_info())),
            request::GET_ALL_TOPIC_LIST_FROM_NAMESERVER => {
                if !self.config.enable_all_topic_list {
                    return Ok(
                        RemotingCommand::response_to(req, response::SYSTEM_ERROR).with_remark("disable")
                    );
                }
                ok().with_body(to_json(&lock(&self.table).topics()))
            }
            request::GET_TOPICS_BY_CLUSTER => ok().with_body(to_json(
                &lock(&self.table).topics_of_cluster(&req.required::<String>("cluster")?),
            )),
            request::GET_SYSTEM_TOPIC_LIST_FROM_NS => {
                // The reference lists cluster and broker-group names: brokers create topics by those names.
                let info = lock(&self.table).cluster_info();
                let topic_list = info
                    .cluster_addr_table
                    .keys()
                    .chain(info.broker_addr_table.keys())
                    .cloned()
                    .collect();
                ok().with_body(to_json(&TopicList { topic_list }))
            }
            request::DELETE_TOPIC_IN_NAMESRV => {
                let cluster = req.optional::<String>("clusterName")?;
                lock(&self.table).delete_topic(&req.required::<String>("topic")?, cluster.as_deref());
                ok()
            }
            request::WIPE_WRITE_PERM_OF_BROKER | request::ADD_WRITE_PERM_OF_BROKER => {
                let writable = req.code == request::ADD_WRITE_PERM_OF_BROKER;
                let count =
                    lock(&self.table).set_write_permission(&req.required::<String>("brokerName")?, writable);
                ok().with_field(
                    if writable {
                        "addTopicCount"
                    } else {
                        "wipeTopicCount"
                    },
                    count,
                )
            }
            request::PUT_KV_CONFIG => {
                let (ns, key, value): (String, String, String) = (
                    req.required("namespace")?,
                    req.required("key")?,
                    req.required("value")?,
                );
                match lock(&self.kv).put(&ns, &key, &value) {
                    Ok(()) => ok(),
                    Err(err) => {
                        RemotingCommand::response_to(req, response::SYSTEM_ERROR).with_remark(err.to_string())
                    }
                }
            }
            request::GET_KV_CONFIG => {
                let (ns, key): (String, String) = (req.required("namespace")?, req.required("key")?);
                match lock(&self.kv).get(&ns, &key) {
                    Some(value) => ok().with_field("value", value),
                    None => RemotingCommand::response_to(req, response::QUERY_NOT_FOUND)
                        .with_remark(format!("No config item, Namespace: {ns} Key: {key}")),
                }
            }
            request::DELETE_KV_CONFIG => {
                let (ns, key): (String, String) = (req.required("namespace")?, req.required("key")?);
                match lock(&self.kv).delete(&ns, &key) {
                    Ok(()) => ok(),
                    Err(err) => {
                        RemotingCommand::response_to(req, response::SYSTEM_ERROR).with_remark(err.to_string())
                    }
                }
            }
            request::GET_KVLIST_BY_NAMESPACE => {
                let ns: String = req.required("namespace")?;
                match lock(&self.kv).namespace(&ns) {
                    Some(table) => ok().with_body(to_json(&KvTable { table: table.clone() })),
                    None => RemotingCommand::response_to(req, response::QUERY_NOT_FOUND)
                        .with_remark(format!("No config item, Namespace: {ns}")),
                }
            }
            // Brokers ask before re-registering; "changed" makes them register, which is cheap.
            request::QUERY_DATA_VERSION => ok().with_field("changed", true),
            other => RemotingCommand::response_to(req, response::REQUEST_CODE_NOT_SUPPORTED)
                .with_remark(format!(" request type {other} not supported")),
        })
    }

    fn register(
        &self,
        connection: &Arc<Connection>,
        req: &RemotingCommand,
    ) -> Result<RemotingCommand, ProtocolError> {
        if req.optional::<bool>("compressed")?.unwrap_or(false) {
            return Ok(
                RemotingCommand::response_to(req, response::SYSTEM_ERROR).with_remark(
                    "compressed broker registration is not supported; set compressedRegister=false",
                ),
            );
        }
        let crc = req.optional::<i64>("bodyCrc32")?.unwrap_or(0);
        if crc != 0 && i64::from(body_crc(&req.body)) != crc {
            return Ok(
                RemotingCommand::response_to(req, response::SYSTEM_ERROR).with_remark("crc32 not match")
            );
        }
        let topics = if req.body.is_empty() {
            TopicConfigWrapper::default()
        } else if req.version >= REGISTER_BODY_SINCE_VERSION {
            serde_json::from_slice::<RegisterBrokerBody>(&req.body)
                .map_err(|e| ProtocolError::Json(e.to_string()))?
                .topic_config_serialize_wrapper
        } else {
            serde_json::from_slice::<TopicConfigWrapper>(&req.body)
                .map_err(|e| ProtocolError::Json(e.to_string()))?
        };
        let timeout = req
            .optional::<u64>("heartbeatTimeoutMillis")?
            .map_or(self.config.broker_channel_expired_time, Duration::from_millis);
        let registration = Registration {
            cluster: req.required("clusterName")?,
            broker_name: req.required("brokerName")?,
            broker_addr: req.required("brokerAddr")?,
            broker_id: req.required("brokerId")?,
            ha_server_addr: req.optional("haServerAddr")?.unwrap_or_default(),
            topics,
            connection: connection_id(connection),
            timeout,
        };
        let outcome = lock(&self.table).register(registration, Instant::now());
        let mut reply = RemotingCommand::response_to(req, response::SUCCESS);
        if let Some(master) = outcome.master_addr {
            reply = reply.with_field("masterAddr", master);
        }
        if let Some(ha) = outcome.ha_server_addr {
            reply = reply.with_field("haServerAddr", ha);
        }
        if let Some(order) = lock(&self.kv).namespace(ORDER_TOPIC_CONFIG) {
            reply = reply.with_body(to_json(&KvTable { table: order.clone() }));
        }
        Ok(reply)
    }
}

impl Handler for NameServer {
    async fn handle(&self, connection: Arc<Connection>, request: RemotingCommand) -> Option<RemotingCommand> {
        let reply = self.dispatch(&connection, &request).unwrap_or_else(|err| {
            RemotingCommand::response_to(&request, response::SYSTEM_ERROR).with_remark(err.to_string())
        });
        request_log::log_failure(connection.peer(), &request, &reply);
        Some(reply)
    }

    fn on_close(&self, connection: &Arc<Connection>) {
        for addr in lock(&self.table).connection_closed(connection_id(connection)) {
            tracing::info!(broker = %addr, "broker connection closed; route removed");
        }
    }
}
