//! The client's side of the HA tests, over our own remoting client: route lookups, the broker a
//! consumer reads from and the queues a producer writes to — chosen by the rules the reference
//! Java client applies to a route (5.3.3) — pulls, and consumer offsets.

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use apogee_broker::{
    namesrv::route_data::TopicRouteData,
    protocol::{RemotingCommand, code::request, code::response},
    remoting::Connection,
    store::{
        properties,
        record::{self, Entry},
    },
};

use crate::ha_cluster::connect_when_up;

const WAIT: Duration = Duration::from_secs(5);

/// The NameServer's route of `topic`, `None` when it has none.
pub async fn route(namesrv: SocketAddr, topic: &str) -> Option<TopicRouteData> {
    let conn = connect_when_up(namesrv).await;
    let ask = RemotingCommand::request(request::GET_ROUTEINFO_BY_TOPIC, 0).with_field("topic", topic);
    let reply = conn.request(ask, WAIT).await.expect("the NameServer answers");
    conn.close();
    (reply.code == response::SUCCESS).then(|| serde_json::from_slice(&reply.body).expect("a route"))
}

/// Polls the route of `topic` until `check` holds on it (at most 15 s), and returns it.
pub async fn route_where(
    namesrv: SocketAddr,
    topic: &str,
    what: &str,
    check: impl Fn(&TopicRouteData) -> bool,
) -> TopicRouteData {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let found = route(namesrv, topic).await;
        if let Some(route) = found.as_ref().filter(|r| check(r)) {
            return route.clone();
        }
        assert!(Instant::now() < deadline, "{what} within 15 s: {found:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The addresses of group `broker_name` in a route, by broker id.
pub fn group_addrs(route: &TopicRouteData, broker_name: &str) -> Vec<(i64, String)> {
    route
        .broker_datas
        .iter()
        .filter(|b| b.broker_name == broker_name)
        .flat_map(|b| b.broker_addrs.iter().map(|(id, a)| (*id, a.clone())))
        .collect()
}

/// Where a consumer reads group `broker_name` when it wants broker `broker_id`, as the
/// reference's `findBrokerAddressInSubscribe(name, id, onlyThisBroker = false)`: that id, or for
/// a slave id the next one, or else any broker of the group (the master gone, its slave).
pub fn subscribe_addr(route: &TopicRouteData, broker_name: &str, broker_id: i64) -> Option<String> {
    let addrs = group_addrs(route, broker_name);
    let by_id = |id: i64| addrs.iter().find(|(i, _)| *i == id).map(|(_, a)| a.clone());
    by_id(broker_id)
        .or_else(|| (broker_id != 0).then(|| by_id(broker_id + 1)).flatten())
        .or_else(|| addrs.first().map(|(_, a)| a.clone()))
}

/// The queues a producer sends to, as the reference's `topicRouteData2TopicPublishInfo`: every
/// write queue of a writable group whose route lists a master (broker id 0). Returns
/// `(group, master address, queue id)`.
pub fn publish_queues(route: &TopicRouteData) -> Vec<(String, String, i32)> {
    const PERM_WRITE: i32 = 1 << 1;
    let mut queues = Vec::new();
    for data in route.queue_datas.iter().filter(|q| q.perm & PERM_WRITE != 0) {
        let master = group_addrs(route, &data.broker_name)
            .into_iter()
            .find(|(id, _)| *id == 0);
        if let Some((_, addr)) = master {
            for queue in 0..data.write_queue_nums {
                queues.push((data.broker_name.clone(), addr.clone(), queue));
            }
        }
    }
    queues
}

/// What a pull returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pulled {
    pub code: i32,
    pub suggested_broker: i64,
    pub next_offset: i64,
    /// `KEYS` of the returned messages, in order.
    pub keys: Vec<String>,
}

/// A pull of at most `max` messages of queue `queue` of `topic` from `offset`, without holding
/// (the subscription `*` travels with it, so no heartbeat is needed).
pub async fn pull(conn: &Connection, group: &str, topic: &str, queue: i32, offset: i64, max: i32) -> Pulled {
    let req = RemotingCommand::request(request::PULL_MESSAGE, 0)
        .with_field("consumerGroup", group)
        .with_field("topic", topic)
        .with_field("queueId", queue)
        .with_field("queueOffset", offset)
        .with_field("maxMsgNums", max)
        .with_field("sysFlag", 4)
        .with_field("commitOffset", 0)
        .with_field("suspendTimeoutMillis", 0)
        .with_field("subscription", "*")
        .with_field("subVersion", 0);
    let reply = conn.request(req, WAIT).await.expect("the broker answers a pull");
    let mut keys = Vec::new();
    let mut rest = &reply.body[..];
    while !rest.is_empty() {
        let Ok(Entry::Message(view)) = record::decode(rest, true) else {
            panic!("a pulled record does not decode");
        };
        keys.push(
            properties::get(view.properties, "KEYS")
                .unwrap_or_default()
                .to_owned(),
        );
        rest = &rest[view.total_size..];
    }
    let number = |field: &str| reply.field(field).and_then(|v| v.parse().ok()).unwrap_or(-1);
    Pulled {
        code: reply.code,
        suggested_broker: number("suggestWhichBrokerId"),
        next_offset: number("nextBeginOffset"),
        keys,
    }
}

/// QUERY_CONSUMER_OFFSET: the group's committed offset on that broker, `None` when it has none.
pub async fn query_offset(conn: &Connection, group: &str, topic: &str, queue: i32) -> Option<i64> {
    let req = RemotingCommand::request(request::QUERY_CONSUMER_OFFSET, 0)
        .with_field("consumerGroup", group)
        .with_field("topic", topic)
        .with_field("queueId", queue)
        .with_field("setZeroIfNotFound", false);
    let reply = conn.request(req, WAIT).await.expect("the broker answers");
    (reply.code == response::SUCCESS).then(|| reply.field("offset").unwrap().parse().unwrap())
}

/// UPDATE_CONSUMER_OFFSET; returns the answer's code.
pub async fn commit_offset(conn: &Connection, group: &str, topic: &str, queue: i32, offset: i64) -> i32 {
    let req = RemotingCommand::request(request::UPDATE_CONSUMER_OFFSET, 0)
        .with_field("consumerGroup", group)
        .with_field("topic", topic)
        .with_field("queueId", queue)
        .with_field("commitOffset", offset);
    conn.request(req, WAIT).await.expect("the broker answers").code
}
