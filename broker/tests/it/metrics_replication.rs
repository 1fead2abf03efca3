//! Replication metrics over real loopback sockets. On a master, each connected slave's lag (bytes
//! and messages) is labelled by the slave's IP and its number among the slaves connected from
//! that IP, never by the connection's ephemeral port, so a slave that reconnects keeps its
//! series; a slave that caught up shows 0, one that confirms nothing the whole log. On a slave,
//! whether it replicates from its master follows the master going away and coming back.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    path::Path,
    time::{Duration, Instant},
};

use apogee_broker::{
    broker::{Listen, RunningBroker},
    config::{BrokerConfig, FixedEnv, MetricsExporterType},
    protocol::{RemotingCommand, code::request, code::response},
    standalone::{Standalone, StandaloneOptions},
};
use tokio::io::AsyncWriteExt;

use crate::{
    broker::{call, client},
    ha_cluster::free_port,
    harness::runtime,
    metrics::{get, sample},
};

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const SEGMENT: &str = "mappedFileSizeCommitLog=1048576\nmaxMessageSize=262144\n";
const LABELS: &str = r#"{cluster="MC",broker="rep-metrics""#;

/// A slave of `rep-metrics`, serving its own `/metrics` on a free port.
async fn slave(dir: &Path, namesrv: SocketAddr) -> RunningBroker {
    let env = FixedEnv::new().with_var("HOME", dir.to_str().unwrap());
    let text = format!(
        "brokerClusterName=MC\nbrokerName=rep-metrics\nbrokerId=1\nbrokerRole=SLAVE\n\
         namesrvAddr={namesrv}\nstorePathRootDir={}\nregisterNameServerPeriod=10000\n{SEGMENT}",
        dir.join("slave").display()
    );
    let mut config = BrokerConfig::from_properties(&text, "slave.conf", &env).unwrap();
    config.listen_port = 0;
    config.metrics_exporter_type = MetricsExporterType::Prom;
    config.metrics_prom_exporter_port = 0;
    let listen = Listen {
        bind_ip: LOOPBACK,
        advertised_ip: LOOPBACK,
    };
    RunningBroker::start(config, listen).await.expect("slave starts")
}

fn send(seq: usize) -> RemotingCommand {
    let mut req = RemotingCommand::request(request::SEND_MESSAGE, 0);
    for (k, v) in [
        ("producerGroup", "PG"),
        ("topic", "Lagged"),
        ("defaultTopic", "TBW102"),
        ("defaultTopicQueueNums", "2"),
        ("queueId", &(seq % 2).to_string()),
        ("sysFlag", "0"),
        ("bornTimestamp", "1"),
        ("flag", "0"),
    ] {
        req = req.with_field(k, v);
    }
    req.with_body(vec![b'x'; 4096])
}

fn lag_of(index: u32) -> String {
    format!(r#"apogee_replication_lag_bytes{LABELS},slave="127.0.0.1",slave_index="{index}"}}"#)
}

fn messages_behind(index: u32) -> String {
    format!(r#"apogee_replication_lag_messages{LABELS},slave="127.0.0.1",slave_index="{index}"}}"#)
}

/// Scrapes until `check` holds on the page (at most 10 s), and returns that page.
async fn page_where(metrics: SocketAddr, what: &str, check: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let page = get(metrics, "/metrics").await.1;
        if check(&page) {
            return page;
        }
        assert!(Instant::now() < deadline, "{what} within 10 s:\n{page}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn lag_lines(page: &str) -> Vec<&str> {
    page.lines()
        .filter(|l| l.starts_with("apogee_replication_lag_bytes{"))
        .collect()
}

#[test]
fn replication_lag_is_labelled_by_slave_ip_and_number_and_reaches_zero() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    rt.block_on(async {
        let env = FixedEnv::new().with_var("HOME", dir.path().to_str().unwrap());
        let ha_port = free_port(LOOPBACK);
        let mut options = StandaloneOptions::loopback(dir.path().join("master"));
        options.broker_properties = format!(
            "brokerClusterName=MC\nbrokerName=rep-metrics\nbrokerRole=ASYNC_MASTER\n\
             haListenPort={ha_port}\n{SEGMENT}"
        );
        options.metrics_port = Some(0);
        let node = Standalone::start(options, &env).await.unwrap();
        let metrics = node.broker().metrics_addr().expect("metrics enabled");
        let master = node.broker().context().clone();
        let (p, _rx) = client(node.broker_addr()).await;
        for seq in 0..20 {
            assert_eq!(call(&p, send(seq)).await.code, response::SUCCESS);
        }

        let s = slave(dir.path(), node.namesrv_addr()).await;
        let page = page_where(metrics, "the slave caught up (lag 0)", |page| {
            page.contains(&format!("{} 0\n", lag_of(0)))
        })
        .await;
        assert_eq!(lag_lines(&page).len(), 1, "one slave, one series:\n{page}");
        assert_eq!(sample(&page, &messages_behind(0)), 0.0);
        assert_eq!(
            sample(&page, &format!("apogee_replication_slaves_connected{LABELS}}}")),
            1.0
        );

        // A second peer on the same IP that reports an empty log and then never confirms
        // anything (a slave stuck at 0) is number 1, and lags by the whole log. It repeats its
        // report as a live slave's heartbeat would, so the master keeps it for the whole test.
        let stuck = tokio::net::TcpStream::connect((LOOPBACK, ha_port)).await.unwrap();
        let (_unread, mut reports) = stuck.into_split();
        let heartbeat = tokio::spawn(async move {
            loop {
                if reports.write_all(&0u64.to_be_bytes()).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        let end = master.store.max_physical_offset();
        let page = page_where(metrics, "the stuck peer lags by the whole log", |page| {
            page.contains(&format!("{} {end}\n", lag_of(1)))
        })
        .await;
        assert_eq!(
            sample(&page, &lag_of(0)),
            0.0,
            "the real slave is still caught up"
        );
        assert_eq!(
            sample(&page, &messages_behind(1)),
            20.0,
            "the stuck peer lacks all 20 messages"
        );

        // The real slave restarts: a new connection from a new port, the same series.
        s.shutdown().await.unwrap();
        page_where(metrics, "the master noticed the slave left", |page| {
            !page.contains(&lag_of(0))
        })
        .await;
        for seq in 20..30 {
            assert_eq!(call(&p, send(seq)).await.code, response::SUCCESS);
        }
        let s = slave(dir.path(), node.namesrv_addr()).await;
        let page = page_where(metrics, "the restarted slave caught up (lag 0)", |page| {
            page.contains(&format!("{} 0\n", lag_of(0)))
        })
        .await;
        assert_eq!(
            s.context().store.max_physical_offset(),
            master.store.max_physical_offset()
        );
        let lines = lag_lines(&page);
        assert_eq!(lines.len(), 2, "two peers, two series:\n{page}");
        assert!(
            lines.iter().all(|l| !l.contains("127.0.0.1:")),
            "no ephemeral port in a label:\n{page}"
        );
        assert!(sample(&page, &lag_of(1)) >= end as f64);
        assert_eq!(sample(&page, &messages_behind(0)), 0.0);
        assert_eq!(sample(&page, &messages_behind(1)), 30.0, "and the 10 sent since");

        heartbeat.abort();
        s.shutdown().await.unwrap();
        node.shutdown().await.unwrap();
    });
}

#[test]
fn a_slave_reports_whether_it_replicates_from_its_master() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    rt.block_on(async {
        let env = FixedEnv::new().with_var("HOME", dir.path().to_str().unwrap());
        // Fixed ports: the master comes back where the slave knows it.
        let mut options = StandaloneOptions::loopback(dir.path().join("master"));
        options.namesrv_port = free_port(LOOPBACK);
        options.broker_port = free_port(LOOPBACK);
        let ha_port = free_port(LOOPBACK);
        options.broker_properties = format!(
            "brokerClusterName=MC\nbrokerName=rep-metrics\nbrokerRole=ASYNC_MASTER\n\
             haListenPort={ha_port}\n{SEGMENT}"
        );
        let node = Standalone::start(options.clone(), &env).await.unwrap();
        let (p, _rx) = client(node.broker_addr()).await;
        for seq in 0..5 {
            assert_eq!(call(&p, send(seq)).await.code, response::SUCCESS);
        }
        p.close();
        let s = slave(dir.path(), node.namesrv_addr()).await;
        let metrics = s.metrics_addr().expect("slave metrics enabled");
        let connected = format!("apogee_replication_master_connected{LABELS}}}");
        let known = format!("apogee_replication_master_known{LABELS}}}");
        let refused = format!("apogee_replication_refused{LABELS}}}");
        let page = page_where(metrics, "the slave replicates", |page| {
            page.contains(&format!("{connected} 1\n"))
        })
        .await;
        assert_eq!(sample(&page, &known), 1.0);
        assert_eq!(sample(&page, &refused), 0.0);
        assert!(
            !page.contains("apogee_replication_lag_bytes{"),
            "a slave has no slaves of its own:\n{page}"
        );

        node.shutdown().await.unwrap();
        let page = page_where(metrics, "the slave noticed its master left", |page| {
            page.contains(&format!("{connected} 0\n"))
        })
        .await;
        assert_eq!(sample(&page, &known), 1.0, "it still knows where its master is");

        let node = Standalone::start(options, &env).await.unwrap();
        page_where(metrics, "the slave replicates again", |page| {
            page.contains(&format!("{connected} 1\n"))
        })
        .await;
        s.shutdown().await.unwrap();
        node.shutdown().await.unwrap();
    });
}
