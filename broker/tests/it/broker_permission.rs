//! UPDATE_BROKER_CONFIG (25) with `brokerPermission`, as the operator uses it before
//! restarting a master: a read-only broker refuses sends, registers its topics read-only
//! (so routes steer producers elsewhere), reports the permission in GET_BROKER_CONFIG, and
//! takes writes again once restored. Other keys are refused by name.

use std::time::Duration;

use apogee_broker::{
    config::FixedEnv,
    protocol::{RemotingCommand, code::request, code::response},
    standalone::{Standalone, StandaloneOptions},
};

use crate::{
    broker::{call, client, route_appears, send},
    harness::runtime,
};

const WAIT: Duration = Duration::from_secs(5);

fn update(body: &str) -> RemotingCommand {
    RemotingCommand::request(request::UPDATE_BROKER_CONFIG, 0).with_body(body.as_bytes().to_vec())
}

/// Waits until the NameServer's route for `topic` shows permission `perm`.
async fn route_perm_becomes(namesrv: std::net::SocketAddr, topic: &str, perm: i32) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let route = route_appears(namesrv, topic).await;
        let seen = route.queue_datas[0].perm;
        if seen == perm {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "route of {topic} still has perm {seen}, expected {perm}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[test]
fn a_read_only_broker_refuses_sends_and_registers_read_only_routes() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    rt.block_on(async {
        let env = FixedEnv::new().with_var("HOME", dir.path().to_str().unwrap());
        let mut options = StandaloneOptions::loopback(dir.path().join("store"));
        options.broker_properties =
            "brokerClusterName=PermCluster\nbrokerName=perm-broker\nmappedFileSizeCommitLog=16777216\n"
                .into();
        let node = Standalone::start(options, &env).await.expect("node starts");
        let (conn, _rx) = client(node.broker_addr()).await;
        let sent = call(&conn, send("Orders", "T", "k0", "before")).await;
        assert_eq!(sent.code, response::SUCCESS, "{:?}", sent.remark);
        route_perm_becomes(node.namesrv_addr(), "Orders", 6).await;

        let answer = call(&conn, update("brokerPermission=4\n")).await;
        assert_eq!(answer.code, response::SUCCESS, "{:?}", answer.remark);
        let refused = call(&conn, send("Orders", "T", "k1", "while read-only")).await;
        assert_eq!(refused.code, response::NO_PERMISSION, "{:?}", refused.remark);
        assert!(
            refused
                .remark
                .as_deref()
                .unwrap_or_default()
                .contains("forbidden"),
            "{:?}",
            refused.remark
        );
        route_perm_becomes(node.namesrv_addr(), "Orders", 4).await;
        let config = call(&conn, RemotingCommand::request(request::GET_BROKER_CONFIG, 0)).await;
        let text = String::from_utf8_lossy(&config.body).into_owned();
        assert!(text.lines().any(|l| l == "brokerPermission=4"), "{text}");

        // Anything else is refused by name, and nothing is applied.
        let other = call(&conn, update("brokerPermission=6\nflushDiskType=SYNC_FLUSH\n")).await;
        assert_eq!(other.code, response::INVALID_PARAMETER);
        assert!(
            other
                .remark
                .as_deref()
                .unwrap_or_default()
                .contains("flushDiskType"),
            "{:?}",
            other.remark
        );
        let bad = call(&conn, update("brokerPermission=99")).await;
        assert_eq!(bad.code, response::INVALID_PARAMETER);
        let still = call(&conn, send("Orders", "T", "k2", "still read-only")).await;
        assert_eq!(still.code, response::NO_PERMISSION);

        let restored = call(&conn, update("brokerPermission=6")).await;
        assert_eq!(restored.code, response::SUCCESS, "{:?}", restored.remark);
        let sent = call(&conn, send("Orders", "T", "k3", "after")).await;
        assert_eq!(sent.code, response::SUCCESS, "{:?}", sent.remark);
        route_perm_becomes(node.namesrv_addr(), "Orders", 6).await;
        conn.close();
        node.shutdown().await.expect("clean shutdown");
    });
}
