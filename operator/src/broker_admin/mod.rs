//! The broker's admin API, as the operator uses it during restarts: write permission on and
//! off (UPDATE_BROKER_CONFIG, code 25, `brokerPermission` in the body as properties text)
//! the CommitLog end offset (GET_BROKER_RUNTIME_INFO, code 28) and, before a group is
//! removed, its consumer lag (GET_ALL_CONSUMER_OFFSET 43, GET_CONSUME_STATS 208), over the
//! broker crate's own remoting client.
//!
//! Which address a pod answers on is [`addresses`]' business: its DNS name in the cluster,
//! or a map (tests run real brokers on loopback for pods that run no process).

pub mod addresses;
pub mod consume_lag;

use std::{sync::Arc, time::Duration};

use apogee_broker::{
    namesrv::route_data::KvTable,
    protocol::{RemotingCommand, code::request, code::response},
    remoting::{ConnectionConfig, RefuseCallbacks, RemotingError, connect},
};

pub use addresses::{BrokerAddresses, PodAddress};

/// Read and write (PermName 4 | 2): a broker's normal permission.
pub const READ_WRITE: u8 = 6;
/// Read only: sends are refused and the NameServers route producers elsewhere.
pub const READ_ONLY: u8 = 4;

/// A failed admin call.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// No address is known for the pod.
    #[error("no broker address for pod {0}")]
    NoAddress(String),
    /// The broker could not be reached or did not answer in time.
    #[error("broker {pod} at {addr}: {source}")]
    Remoting {
        /// The pod.
        pod: String,
        /// Where it was called.
        addr: String,
        /// What failed (boxed: the other variants are small).
        #[source]
        source: Box<RemotingError>,
    },
    /// The broker refused the request.
    #[error("broker {pod} refused request {code}: {remark}")]
    Refused {
        /// The pod.
        pod: String,
        /// Request code.
        code: i32,
        /// The broker's remark.
        remark: String,
    },
    /// The answer did not hold what was asked for.
    #[error("broker {pod} answered request {code} without {what}")]
    BadAnswer {
        /// The pod.
        pod: String,
        /// Request code.
        code: i32,
        /// What was missing.
        what: &'static str,
    },
    /// The address map file cannot be read.
    #[error("broker address map {path}: {reason}")]
    AddressMap {
        /// The file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Calls brokers' admin API.
#[derive(Debug, Clone)]
pub struct BrokerAdmin {
    addresses: Arc<BrokerAddresses>,
    timeout: Duration,
}

impl BrokerAdmin {
    /// A client finding brokers through `addresses`, giving each call `timeout` (connect
    /// included).
    pub fn new(addresses: BrokerAddresses, timeout: Duration) -> Self {
        Self {
            addresses: Arc::new(addresses),
            timeout,
        }
    }

    async fn call(
        &self,
        pod: &PodAddress<'_>,
        request: RemotingCommand,
    ) -> Result<RemotingCommand, AdminError> {
        let addr = self
            .addresses
            .address(pod)?
            .ok_or_else(|| AdminError::NoAddress(pod.pod.to_owned()))?;
        let remoting = |source| AdminError::Remoting {
            pod: pod.pod.to_owned(),
            addr: addr.clone(),
            source: Box::new(source),
        };
        let code = request.code;
        let config = ConnectionConfig::default();
        let connecting = connect(&addr, Arc::new(RefuseCallbacks), &config);
        let connection = tokio::time::timeout(self.timeout, connecting)
            .await
            .map_err(|_| {
                remoting(RemotingError::Timeout {
                    peer: addr.clone(),
                    code,
                    millis: self.timeout.as_millis(),
                })
            })?
            .map_err(remoting)?;
        let answer = connection.request(request, self.timeout).await;
        connection.close();
        let answer = answer.map_err(remoting)?;
        if answer.code != response::SUCCESS {
            return Err(AdminError::Refused {
                pod: pod.pod.to_owned(),
                code,
                remark: answer.remark.unwrap_or_default(),
            });
        }
        Ok(answer)
    }

    /// Sets the broker's `brokerPermission` (it re-registers with every NameServer at once).
    pub async fn set_permission(&self, pod: &PodAddress<'_>, permission: u8) -> Result<(), AdminError> {
        let body = format!("brokerPermission={permission}\n");
        let request = RemotingCommand::request(request::UPDATE_BROKER_CONFIG, 0).with_body(body.into_bytes());
        self.call(pod, request).await.map(drop)
    }

    /// The broker's CommitLog end offset (`commitLogMaxOffset`).
    pub async fn commit_log_max_offset(&self, pod: &PodAddress<'_>) -> Result<i64, AdminError> {
        let code = request::GET_BROKER_RUNTIME_INFO;
        let answer = self.call(pod, RemotingCommand::request(code, 0)).await?;
        let bad = || AdminError::BadAnswer {
            pod: pod.pod.to_owned(),
            code,
            what: "commitLogMaxOffset",
        };
        let table: KvTable = serde_json::from_slice(&answer.body).map_err(|_| bad())?;
        table
            .table
            .get("commitLogMaxOffset")
            .and_then(|offset| offset.parse().ok())
            .ok_or_else(bad)
    }

    /// Messages on the broker no consumer group has consumed yet (every group with committed
    /// offsets, every topic it consumes).
    pub async fn consumer_lag(&self, pod: &PodAddress<'_>) -> Result<i64, AdminError> {
        let code = request::GET_ALL_CONSUMER_OFFSET;
        let answer = self.call(pod, RemotingCommand::request(code, 0)).await?;
        let groups = consume_lag::groups(&answer.body).ok_or_else(|| AdminError::BadAnswer {
            pod: pod.pod.to_owned(),
            code,
            what: "offsetTable",
        })?;
        let mut total = 0i64;
        for group in groups {
            let code = request::GET_CONSUME_STATS;
            let request = RemotingCommand::request(code, 0).with_field("consumerGroup", &group);
            let answer = self.call(pod, request).await?;
            let lag = consume_lag::lag(&String::from_utf8_lossy(&answer.body)).ok_or_else(|| {
                AdminError::BadAnswer {
                    pod: pod.pod.to_owned(),
                    code,
                    what: "brokerOffset and consumerOffset",
                }
            })?;
            total = total.saturating_add(lag);
        }
        Ok(total)
    }
}
