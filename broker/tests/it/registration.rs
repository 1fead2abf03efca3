//! A broker's registration with several real NameServers: every one gets it, a restarted one
//! gets it again on the next round, slaves learn their master, unregistration removes routes.

use std::{sync::Arc, time::Duration};

use apogee_broker::{
    broker::registration::{Identity, Registrar},
    config::{FixedEnv, NamesrvAddr, NamesrvConfig},
    namesrv::{
        NameServer,
        route_data::{TopicConfig, TopicConfigWrapper, TopicRouteData},
    },
    protocol::{RemotingCommand, code::request, code::response},
    remoting::{ConnectionConfig, RefuseCallbacks, Server, connect},
};
use tokio::sync::watch;

use crate::harness::runtime;

/// Starts a NameServer on `addr`; dropping the sender stops it.
async fn namesrv(addr: &str, dir: &std::path::Path) -> (String, watch::Sender<bool>) {
    let env = FixedEnv::new().with_var("HOME", dir.to_str().unwrap());
    let mut config = NamesrvConfig::defaults(&env).unwrap();
    config.kv_config_path = dir.join(format!("kv-{}.json", addr.replace(':', "_")));
    let server = Server::bind(addr, ConnectionConfig::default()).await.unwrap();
    let bound = server.local_addr().to_string();
    let (stop, stop_rx) = watch::channel(false);
    tokio::spawn(NameServer::new(config).unwrap().run(server, stop_rx));
    (bound, stop)
}

fn registrar(id: i64, addr: &str, namesrv: &[String]) -> Registrar {
    let identity = Identity {
        cluster: "DefaultCluster".into(),
        broker_name: "broker-a".into(),
        broker_addr: addr.into(),
        broker_id: id,
        ha_server_addr: addr.replace(":10911", ":10912"),
        heartbeat_timeout: Duration::from_secs(120),
    };
    let list: Vec<NamesrvAddr> = namesrv.iter().map(|a| a.parse().unwrap()).collect();
    Registrar::new(identity, list, || {
        let mut wrapper = TopicConfigWrapper::default();
        let config = TopicConfig {
            topic_name: "Reg".into(),
            read_queue_nums: 2,
            write_queue_nums: 2,
            ..Default::default()
        };
        wrapper.topic_config_table.insert("Reg".into(), config);
        wrapper
    })
}

async fn route_addrs(namesrv: &str) -> Option<Vec<String>> {
    let conn = connect(namesrv, Arc::new(RefuseCallbacks), &ConnectionConfig::default())
        .await
        .unwrap();
    let reply = conn
        .request(
            RemotingCommand::request(request::GET_ROUTEINFO_BY_TOPIC, 0).with_field("topic", "Reg"),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    conn.close();
    (reply.code == response::SUCCESS).then(|| {
        let route: TopicRouteData = serde_json::from_slice(&reply.body).unwrap();
        route.broker_datas[0].broker_addrs.values().cloned().collect()
    })
}

#[test]
fn registers_with_every_namesrv_and_recovers_from_a_restart() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    rt.block_on(async {
        let (ns1, stop1) = namesrv("127.0.0.1:0", dir.path()).await;
        let (ns2, _stop2) = namesrv("127.0.0.1:0", dir.path()).await;
        let port2 = ns2.rsplit_once(':').unwrap().1;
        // One entry by address, one by name: both must be reached.
        let list = vec![ns1.clone(), format!("localhost:{port2}")];
        let master = registrar(0, "127.0.0.1:10911", &list);
        let results = master.register_all().await;
        assert_eq!(results.len(), 2);
        assert!(results.iter().all(|(_, r)| r.is_ok()), "{results:?}");
        let slave = registrar(1, "127.0.0.2:10911", &list);
        for (_, outcome) in slave.register_all().await {
            let outcome = outcome.unwrap();
            assert_eq!(outcome.master_addr.as_deref(), Some("127.0.0.1:10911"));
            assert_eq!(outcome.ha_server_addr.as_deref(), Some("127.0.0.1:10912"));
        }
        for ns in [&ns1, &ns2] {
            assert_eq!(
                route_addrs(ns).await.unwrap().len(),
                2,
                "master and slave on {ns}"
            );
        }

        // NameServer 1 restarts on the same port with empty tables; the next round fills it.
        stop1.send_replace(true);
        drop(stop1);
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (ns1_again, _stop1b) = namesrv(&ns1, dir.path()).await;
        assert_eq!(ns1_again, ns1);
        assert!(
            route_addrs(&ns1).await.is_none(),
            "a fresh name server knows nothing"
        );
        let round = master.register_all().await;
        assert!(
            round.iter().all(|(_, r)| r.is_ok()),
            "re-registration reconnects: {round:?}"
        );
        assert_eq!(
            route_addrs(&ns1).await.unwrap(),
            vec!["127.0.0.1:10911".to_string()]
        );

        // A clean broker shutdown removes it from every name server.
        master.unregister_all().await;
        slave.unregister_all().await;
        for ns in [&ns1, &ns2] {
            assert!(route_addrs(ns).await.is_none(), "routes gone from {ns}");
        }
    });
}
