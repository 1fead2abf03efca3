//! A slave copies its master's metadata, as the reference does, so that consumers moving to the
//! slave (master down) resume where they were: topic configs (GET_ALL_TOPIC_CONFIG), consumer
//! offsets (GET_ALL_CONSUMER_OFFSET), delay progress (GET_ALL_DELAY_OFFSET) and subscription
//! groups (GET_ALL_SUBSCRIPTIONGROUP_CONFIG), over the master's ordinary remoting port.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use serde::Deserialize;
use tokio::sync::watch;

use crate::{
    broker::{
        consumer_offsets::quote_integer_keys, context::BrokerContext,
        subscription_groups::SubscriptionGroupWrapper,
    },
    namesrv::route_data::TopicConfigWrapper,
    protocol::{RemotingCommand, code::request, code::response},
    remoting::{ConnectionConfig, RefuseCallbacks, connect},
};

/// How often a slave copies the master's metadata.
pub const SYNC_INTERVAL: Duration = Duration::from_secs(10);
const TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Offsets {
    offset_table: BTreeMap<String, BTreeMap<i32, i64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct DelayOffsets {
    offset_table: BTreeMap<i32, i64>,
}

/// Copies every `SYNC_INTERVAL` (and as soon as the master is known) until `stop` turns true.
pub async fn run(ctx: Arc<BrokerContext>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    let mut last_sync: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        if last_sync.is_some_and(|t| t.elapsed() < SYNC_INTERVAL) {
            continue;
        }
        let Some(master) = ctx.replication.master().broker else {
            continue;
        };
        match sync_once(&ctx, &master).await {
            Ok(()) => last_sync = Some(tokio::time::Instant::now()),
            Err(reason) => tracing::warn!(%master, %reason, "metadata sync from the master failed"),
        }
    }
}

async fn fetch(conn: &crate::remoting::Connection, code: i32) -> Result<Vec<u8>, String> {
    let reply = conn
        .request(RemotingCommand::request(code, 0), TIMEOUT)
        .await
        .map_err(|e| e.to_string())?;
    if reply.code != response::SUCCESS {
        return Err(format!(
            "request {code} answered {}: {:?}",
            reply.code, reply.remark
        ));
    }
    Ok(reply.body.to_vec())
}

/// One copy of everything.
pub async fn sync_once(ctx: &BrokerContext, master: &str) -> Result<(), String> {
    let conn = connect(master, Arc::new(RefuseCallbacks), &ConnectionConfig::default())
        .await
        .map_err(|e| e.to_string())?;
    let outcome = async {
        let topics: TopicConfigWrapper =
            serde_json::from_slice(&fetch(&conn, request::GET_ALL_TOPIC_CONFIG).await?)
                .map_err(|e| format!("topic configs: {e}"))?;
        for (name, config) in topics.topic_config_table {
            if ctx.topics.get(&name).as_ref() != Some(&config) {
                ctx.topics.put(config).map_err(|e| e.to_string())?;
            }
        }
        let text =
            String::from_utf8_lossy(&fetch(&conn, request::GET_ALL_CONSUMER_OFFSET).await?).into_owned();
        let offsets: Offsets =
            serde_json::from_str(&quote_integer_keys(&text)).map_err(|e| format!("consumer offsets: {e}"))?;
        for (key, queues) in offsets.offset_table {
            let Some((topic, group)) = key.split_once('@') else {
                continue;
            };
            for (queue, offset) in queues {
                ctx.offsets.commit(group, topic, queue, offset);
            }
        }
        let text = String::from_utf8_lossy(&fetch(&conn, request::GET_ALL_DELAY_OFFSET).await?).into_owned();
        let delays: DelayOffsets =
            serde_json::from_str(&quote_integer_keys(&text)).map_err(|e| format!("delay offsets: {e}"))?;
        for (level, offset) in delays.offset_table {
            ctx.delay_offsets.set(level, offset);
        }
        let groups: SubscriptionGroupWrapper =
            serde_json::from_slice(&fetch(&conn, request::GET_ALL_SUBSCRIPTIONGROUP_CONFIG).await?)
                .map_err(|e| format!("subscription groups: {e}"))?;
        for (name, config) in groups.subscription_group_table {
            if ctx.groups.get(&name).as_ref() != Some(&config) {
                ctx.groups.put(config).map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    }
    .await;
    conn.close();
    outcome
}
