//! The broker's HTTP endpoint over real sockets: `/metrics` reflects what producers and
//! consumers did (counts, lag per group, a commit of -1 counting as none, latency histogram;
//! pulls per group and topic, a long poll counted as parked while it is held), the store's
//! gauges and the broker's identity, `/readyz` turns ready once a NameServer took the
//! registration, unknown paths are 404, and a client that never finishes its request does not
//! stop others from scraping.

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use apogee_broker::{
    broker::pull::flag,
    config::FixedEnv,
    protocol::{RemotingCommand, code::request, code::response},
    standalone::{Standalone, StandaloneOptions},
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{
    broker::{call, client, heartbeat},
    harness::runtime,
};

pub(crate) async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut text = String::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_string(&mut text))
        .await
        .expect("answered in time")
        .unwrap();
    let status = text.split(' ').nth(1).unwrap().parse().unwrap();
    let body = text.split_once("\r\n\r\n").unwrap().1.to_owned();
    (status, body)
}

/// The value of the sample whose name and labels start with `prefix`.
pub(crate) fn sample(page: &str, prefix: &str) -> f64 {
    page.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit_once(' '))
        .map(|(_, v)| v.parse().unwrap())
        .unwrap_or_else(|| panic!("no sample {prefix} in:\n{page}"))
}

fn send(topic: &str, queue: i32) -> RemotingCommand {
    let mut req = RemotingCommand::request(request::SEND_MESSAGE, 0);
    for (k, v) in [
        ("producerGroup", "PG"),
        ("topic", topic),
        ("defaultTopic", "TBW102"),
        ("defaultTopicQueueNums", "2"),
        ("queueId", &queue.to_string()),
        ("sysFlag", "0"),
        ("bornTimestamp", "1"),
        ("flag", "0"),
    ] {
        req = req.with_field(k, v);
    }
    req.with_body(b"0123456789".to_vec())
}

#[test]
fn metrics_follow_traffic_and_lag() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    rt.block_on(async {
        let env = FixedEnv::new().with_var("HOME", dir.path().to_str().unwrap());
        let mut options = StandaloneOptions::loopback(dir.path().join("store"));
        options.broker_properties =
            "brokerClusterName=MC\nbrokerName=metrics-broker\nmappedFileSizeCommitLog=16777216\n".into();
        options.metrics_port = Some(0);
        let node = Standalone::start(options, &env).await.unwrap();
        let metrics = node.broker().metrics_addr().expect("metrics enabled");

        // Ready once registered (the first round runs at start).
        let deadline = Instant::now() + Duration::from_secs(5);
        while get(metrics, "/readyz").await.0 != 200 {
            assert!(Instant::now() < deadline, "never ready");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(get(metrics, "/healthz").await.0, 200);
        assert_eq!(get(metrics, "/nope").await.0, 404);

        // A client that connects and never sends a request holds only its own connection.
        let _silent = tokio::net::TcpStream::connect(metrics).await.unwrap();

        let (c, _rx) = client(node.broker_addr()).await;
        assert_eq!(
            call(&c, heartbeat("m@1", "MG", "Metered")).await.code,
            response::SUCCESS
        );
        for i in 0..5 {
            assert_eq!(call(&c, send("Metered", i % 2)).await.code, response::SUCCESS);
        }
        // The group consumed queue 0 up to 2 of its 3 messages, queue 1 not at all (2 there).
        let commit = RemotingCommand::request(request::UPDATE_CONSUMER_OFFSET, 0)
            .with_field("consumerGroup", "MG")
            .with_field("topic", "Metered")
            .with_field("queueId", 0)
            .with_field("commitOffset", 2);
        assert_eq!(call(&c, commit).await.code, response::SUCCESS);
        let deadline = Instant::now() + Duration::from_secs(5);
        let page = loop {
            let (status, page) = get(metrics, "/metrics").await;
            assert_eq!(status, 200);
            if page.contains(
                r#"rocketmq_group_diff{cluster="MC",broker="metrics-broker",group="MG",topic="Metered"} 3"#,
            ) {
                break page;
            }
            assert!(Instant::now() < deadline, "lag never reached 3:\n{page}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let labels = r#"{cluster="MC",broker="metrics-broker""#;
        assert_eq!(
            sample(
                &page,
                &format!(r#"apogee_messages_in_total{labels},topic="Metered"}}"#)
            ),
            5.0
        );
        assert_eq!(
            sample(
                &page,
                &format!(r#"apogee_bytes_in_total{labels},topic="Metered"}}"#)
            ),
            50.0
        );
        assert_eq!(
            sample(
                &page,
                &format!(r#"apogee_consumer_lag{labels},group="MG",topic="Metered",queue="0"}}"#)
            ),
            1.0
        );
        assert_eq!(
            sample(
                &page,
                &format!(r#"apogee_consumer_lag{labels},group="MG",topic="Metered",queue="1"}}"#)
            ),
            2.0
        );
        assert_eq!(
            sample(&page, &format!("apogee_put_latency_seconds_count{labels}}}")),
            5.0
        );
        assert_eq!(
            sample(
                &page,
                &format!(r#"apogee_put_latency_seconds_bucket{labels},le="+Inf"}}"#)
            ),
            5.0
        );
        assert_eq!(
            sample(&page, &format!("apogee_client_connections{labels}}}")),
            1.0
        );
        assert!(sample(&page, &format!("process_resident_memory_bytes{labels}}}")) > 1e6);
        assert!(page.contains("# TYPE apogee_put_latency_seconds histogram"));

        // Everything consumed: lag 0.
        for (queue, offset) in [(0, 3), (1, 2)] {
            let commit = RemotingCommand::request(request::UPDATE_CONSUMER_OFFSET, 0)
                .with_field("consumerGroup", "MG")
                .with_field("topic", "Metered")
                .with_field("queueId", queue)
                .with_field("commitOffset", offset);
            assert_eq!(call(&c, commit).await.code, response::SUCCESS);
        }
        let page = get(metrics, "/metrics").await.1;
        assert_eq!(
            sample(
                &page,
                &format!(r#"rocketmq_group_diff{labels},group="MG",topic="Metered"}}"#)
            ),
            0.0
        );

        // A commit of -1, what a client sends for a queue it holds no offset for, counts as no
        // commit: queue 1's 2 messages, not 3.
        let commit = RemotingCommand::request(request::UPDATE_CONSUMER_OFFSET, 0)
            .with_field("consumerGroup", "MG")
            .with_field("topic", "Metered")
            .with_field("queueId", 1)
            .with_field("commitOffset", -1);
        assert_eq!(call(&c, commit).await.code, response::SUCCESS);
        let page = get(metrics, "/metrics").await.1;
        assert_eq!(
            sample(
                &page,
                &format!(r#"apogee_consumer_lag{labels},group="MG",topic="Metered",queue="1"}}"#)
            ),
            2.0
        );
        assert_eq!(
            sample(
                &page,
                &format!(r#"rocketmq_group_diff{labels},group="MG",topic="Metered"}}"#)
            ),
            2.0
        );
        node.shutdown().await.unwrap();
    });
}

/// A pull of queue 0 from `offset` carrying its own subscription (`*`); held up to `hold_ms`
/// when there is nothing to read.
fn pull(group: &str, topic: &str, offset: i64, hold_ms: u64) -> RemotingCommand {
    RemotingCommand::request(request::PULL_MESSAGE, 0)
        .with_field("consumerGroup", group)
        .with_field("topic", topic)
        .with_field("queueId", 0)
        .with_field("queueOffset", offset)
        .with_field("maxMsgNums", 32)
        .with_field("sysFlag", flag::SUSPEND | flag::SUBSCRIPTION)
        .with_field("commitOffset", 0)
        .with_field("suspendTimeoutMillis", hold_ms)
        .with_field("subscription", "*")
}

/// Scrapes until `check` holds on the page (at most 10 s), and returns that page.
async fn page_where(metrics: SocketAddr, what: &str, check: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, page) = get(metrics, "/metrics").await;
        assert_eq!(status, 200);
        if check(&page) {
            return page;
        }
        assert!(Instant::now() < deadline, "{what} within 10 s:\n{page}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[test]
fn pulls_are_counted_per_group_and_topic_and_a_long_poll_shows_as_parked() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    rt.block_on(async {
        let env = FixedEnv::new().with_var("HOME", dir.path().to_str().unwrap());
        let mut options = StandaloneOptions::loopback(dir.path().join("store"));
        options.broker_properties =
            "brokerClusterName=MC\nbrokerName=pull-broker\nmappedFileSizeCommitLog=16777216\n".into();
        options.metrics_port = Some(0);
        let node = Standalone::start(options, &env).await.unwrap();
        let metrics = node.broker().metrics_addr().expect("metrics enabled");
        let labels = r#"{cluster="MC",broker="pull-broker""#;
        let of = |name: &str| format!(r#"{name}{labels},group="PG1",topic="Pulled"}}"#);

        let (c, _rx) = client(node.broker_addr()).await;
        for _ in 0..3 {
            assert_eq!(call(&c, send("Pulled", 0)).await.code, response::SUCCESS);
        }
        // Dispatch into the queue is asynchronous: pull once all three are there, so that one
        // pull returns them all (a pull racing the dispatcher got fewer).
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let max = RemotingCommand::request(request::GET_MAX_OFFSET, 0)
                .with_field("topic", "Pulled")
                .with_field("queueId", 0);
            if call(&c, max).await.field("offset") == Some("3") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the three sends were not dispatched within 10 s"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let first = call(&c, pull("PG1", "Pulled", 0, 0)).await;
        assert_eq!(first.code, response::SUCCESS, "{:?}", first.remark);
        assert_eq!(first.field("nextBeginOffset"), Some("3"));

        // TPS is a rate over the broker's once-a-second samples: it shows once one was taken
        // after the pull.
        let page = page_where(metrics, "consumer TPS above 0", |page| {
            page.contains(&of("rocketmq_consumer_tps")) && sample(page, &of("rocketmq_consumer_tps")) > 0.0
        })
        .await;
        assert_eq!(sample(&page, &of("apogee_messages_out_total")), 3.0);
        assert_eq!(
            sample(&page, &of("apogee_bytes_out_total")),
            first.body.len() as f64
        );
        assert_eq!(
            sample(
                &page,
                &format!("rocketmq_brokeruntime_msg_gettotal_today_now{labels}}}")
            ),
            3.0
        );
        assert!(
            !page.contains(r#"rocketmq_consumer_tps{cluster="MC",broker="pull-broker",group="PG1"}"#),
            "no sample without its topic:\n{page}"
        );
        assert_eq!(sample(&page, &format!("apogee_pulls_parked{labels}}}")), 0.0);

        // A long poll at the queue's end is held: parked and in flight until a message comes.
        let (waiter, _wrx) = client(node.broker_addr()).await;
        let held = tokio::spawn(async move {
            waiter
                .request(pull("PG1", "Pulled", 3, 15_000), Duration::from_secs(30))
                .await
                .unwrap()
        });
        let parked = format!("apogee_pulls_parked{labels}}}");
        let page = page_where(metrics, "one parked pull", |page| sample(page, &parked) == 1.0).await;
        assert_eq!(
            sample(&page, &format!("apogee_pull_requests_in_flight{labels}}}")),
            1.0
        );
        assert!(!held.is_finished(), "the pull is still held");
        assert_eq!(call(&c, send("Pulled", 0)).await.code, response::SUCCESS);
        let woken = held.await.unwrap();
        assert_eq!(woken.code, response::SUCCESS, "{:?}", woken.remark);
        assert_eq!(woken.field("nextBeginOffset"), Some("4"));
        // The broker answered after the hold ended, so both gauges are down by now.
        let page = get(metrics, "/metrics").await.1;
        assert_eq!(sample(&page, &parked), 0.0);
        assert_eq!(
            sample(&page, &format!("apogee_pull_requests_in_flight{labels}}}")),
            0.0
        );
        assert_eq!(sample(&page, &of("apogee_messages_out_total")), 4.0);

        let disk = sample(
            &page,
            &format!("rocketmq_brokeruntime_commitlog_disk_ratio{labels}}}"),
        );
        // Above 0: the store's own files use some of the filesystem (0 would be a failed read).
        assert!(disk > 0.0 && disk <= 1.0, "disk ratio {disk}");
        let backlog = format!("rocketmq_brokeruntime_dispatch_behind_bytes{labels}}}");
        assert!(sample(&page, &backlog) >= 0.0);
        page_where(metrics, "dispatch caught up", |page| {
            sample(page, &backlog) == 0.0
        })
        .await;
        let info = format!(
            r#"apogee_broker_info{labels},role="ASYNC_MASTER",version="{}"}} 1"#,
            env!("CARGO_PKG_VERSION")
        );
        assert!(page.lines().any(|l| l == info), "no {info} in:\n{page}");
        node.shutdown().await.unwrap();
    });
}
