//! What a NameServer and a broker say, asked over the remoting protocol as any client would ask:
//! a topic's route, and a consumer group's progress in a topic's queues. The client suites use it
//! on Apogee and on the reference NameServer + Broker alike (it talks to an address, whatever
//! serves there), and the reference's startup to know when its broker is routed.

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use apogee_broker::{
    protocol::{RemotingCommand, code::request, code::response},
    remoting::{Connection, ConnectionConfig, RefuseCallbacks, connect},
};

/// Each request's own bound.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

async fn open(addr: &str) -> Arc<Connection> {
    connect(addr, Arc::new(RefuseCallbacks), &ConnectionConfig::default())
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {addr}: {e}"))
}

/// Whether the NameServer at `namesrv` answers a route for `topic` (GET_ROUTEINFO_BY_TOPIC)
/// within `timeout`, asking every 50 ms.
pub fn route_within(namesrv: &str, topic: &str, timeout: Duration) -> bool {
    let started = Instant::now();
    runtime().block_on(async {
        let conn = open(namesrv).await;
        while started.elapsed() < timeout {
            let query =
                RemotingCommand::request(request::GET_ROUTEINFO_BY_TOPIC, 0).with_field("topic", topic);
            if conn
                .request(query, REQUEST_TIMEOUT)
                .await
                .is_ok_and(|r| r.code == response::SUCCESS)
            {
                conn.close();
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        conn.close();
        false
    })
}

/// Waits until the NameServer at `namesrv` answers a route for `topic` ([`route_within`]);
/// fails after `timeout`.
pub fn wait_for_route(namesrv: &str, topic: &str, timeout: Duration) {
    let started = Instant::now();
    assert!(
        route_within(namesrv, topic, timeout),
        "the NameServer {namesrv} had no route for {topic} within {timeout:?}"
    );
    eprintln!("route for {topic} after {:.1?}", started.elapsed());
}

/// Queue id → (max offset (GET_MAX_OFFSET), the group's committed offset
/// (QUERY_CONSUMER_OFFSET)), for queues `0..queues` of `topic` at the broker at `broker`. The
/// committed offset is `None` where the broker answers QUERY_NOT_FOUND (for a queue without a
/// committed offset that still starts at 0 the reference answers SUCCESS 0).
pub fn progress(
    broker: SocketAddr,
    group: &str,
    topic: &str,
    queues: i32,
) -> BTreeMap<i32, (i64, Option<i64>)> {
    runtime().block_on(async {
        let conn = open(&broker.to_string()).await;
        let mut progress = BTreeMap::new();
        for q in 0..queues {
            let ask = |code| {
                RemotingCommand::request(code, 0)
                    .with_field("topic", topic)
                    .with_field("queueId", q)
            };
            let max = conn
                .request(ask(request::GET_MAX_OFFSET), REQUEST_TIMEOUT)
                .await
                .unwrap_or_else(|e| panic!("GET_MAX_OFFSET {topic}:{q} at {broker}: {e}"));
            assert_eq!(max.code, response::SUCCESS, "GET_MAX_OFFSET {topic}:{q}: {max:?}");
            let max: i64 = max.field("offset").expect("offset").parse().expect("a number");
            let query = ask(request::QUERY_CONSUMER_OFFSET).with_field("consumerGroup", group);
            let committed = conn
                .request(query, REQUEST_TIMEOUT)
                .await
                .unwrap_or_else(|e| panic!("QUERY_CONSUMER_OFFSET {topic}:{q} at {broker}: {e}"));
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
            progress.insert(q, (max, committed));
        }
        conn.close();
        progress
    })
}
