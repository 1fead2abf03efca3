//! Client membership requests: HEART_BEAT (34), UNREGISTER_CLIENT (35), CHECK_CLIENT_CONFIG
//! (46), and the NOTIFY_CONSUMER_IDS_CHANGED (40) pushes that make groups rebalance.

use std::sync::Arc;

use super::{
    client_data::HeartbeatData,
    clients::Sender,
    context::BrokerContext,
    response,
    retry::{RETRY_PREFIX, ensure_topic},
    subscription_groups::validate_group_name,
};
use crate::{
    protocol::{ProtocolError, RemotingCommand, code::request, code::response as codes},
    remoting::Connection,
};

/// What a membership request changed.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Consumer groups whose members changed (to notify).
    pub changed_groups: Vec<String>,
    /// A retry topic was created (register with the NameServers now).
    pub topics_changed: bool,
}

/// Answers one of this module's requests; `None` for any other code.
pub fn handle(
    ctx: &BrokerContext,
    connection: &Arc<Connection>,
    req: &RemotingCommand,
) -> Option<(RemotingCommand, Outcome)> {
    let answer = match req.code {
        request::HEART_BEAT => heartbeat(ctx, connection, req),
        request::UNREGISTER_CLIENT => unregister(ctx, connection, req),
        request::CHECK_CLIENT_CONFIG => Ok((check_client_config(req), Outcome::default())),
        _ => return None,
    };
    Some(answer.unwrap_or_else(|err| (response::from_protocol(req, &err), Outcome::default())))
}

fn heartbeat(
    ctx: &BrokerContext,
    connection: &Arc<Connection>,
    req: &RemotingCommand,
) -> Result<(RemotingCommand, Outcome), ProtocolError> {
    let mut data: HeartbeatData = serde_json::from_slice(&req.body).map_err(|e| ProtocolError::Body {
        what: "HeartbeatData",
        reason: e.to_string(),
    })?;
    let mut outcome = Outcome::default();
    // Groups that may not be created are ignored, as the reference does; their pulls then get
    // SUBSCRIPTION_GROUP_NOT_EXIST.
    let mut known = Vec::with_capacity(data.consumer_data_set.len());
    for consumer in std::mem::take(&mut data.consumer_data_set) {
        if let Err(why) = validate_group_name(&consumer.group_name) {
            tracing::info!(client = %connection.peer(), %why, "heartbeat for an invalid group ignored");
            continue;
        }
        let config = match ctx.groups.find_or_create(&consumer.group_name) {
            Ok(Some(config)) => config,
            Ok(None) => continue,
            Err(err) => return Ok((response::from_store(req, &err), outcome)),
        };
        if consumer.message_model != "BROADCASTING" && config.retry_queue_nums > 0 {
            let retry = format!("{RETRY_PREFIX}{}", consumer.group_name);
            match ensure_topic(ctx, &retry, config.retry_queue_nums) {
                Ok(created) => outcome.topics_changed |= created,
                Err(err) => return Ok((response::from_store(req, &err), outcome)),
            }
        }
        known.push(consumer);
    }
    data.consumer_data_set = known;
    let sender = Sender {
        connection,
        language: req.language.name(),
        version: req.version,
    };
    outcome.changed_groups = ctx.clients.heartbeat(&sender, &data);
    Ok((RemotingCommand::response_to(req, codes::SUCCESS), outcome))
}

fn unregister(
    ctx: &BrokerContext,
    connection: &Arc<Connection>,
    req: &RemotingCommand,
) -> Result<(RemotingCommand, Outcome), ProtocolError> {
    let _client: String = req.required("clientID")?;
    let producer: Option<String> = req.optional("producerGroup")?;
    let consumer: Option<String> = req.optional("consumerGroup")?;
    let changed = ctx
        .clients
        .unregister(connection, producer.as_deref(), consumer.as_deref());
    Ok((
        RemotingCommand::response_to(req, codes::SUCCESS),
        Outcome {
            changed_groups: changed,
            topics_changed: false,
        },
    ))
}

/// Consumers send this only for non-TAG subscriptions. SQL92 filtering is not offered (the
/// reference's `enablePropertyFilter=false` answer); TAG expressions are always fine.
fn check_client_config(req: &RemotingCommand) -> RemotingCommand {
    let expression_type = serde_json::from_slice::<serde_json::Value>(&req.body)
        .ok()
        .and_then(|v| {
            v["subscriptionData"]["expressionType"]
                .as_str()
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "TAG".into());
    if expression_type == "TAG" {
        return RemotingCommand::response_to(req, codes::SUCCESS);
    }
    response::refuse(
        req,
        codes::SYSTEM_ERROR,
        "The broker does not support consumer to filter message by SQL92",
    )
}

/// Tells every member of each group that membership changed (oneway; failures only mean the
/// member is gone, and its close is handled elsewhere).
pub fn notify_changed(ctx: &BrokerContext, groups: &[String]) {
    for group in groups {
        let enabled = ctx
            .groups
            .get(group)
            .is_none_or(|g| g.notify_consumer_ids_changed_enable);
        if !enabled {
            continue;
        }
        for connection in ctx.clients.consumer_connections(group) {
            let req = RemotingCommand::request(request::NOTIFY_CONSUMER_IDS_CHANGED, 0)
                .with_field("consumerGroup", group);
            tokio::spawn(async move {
                let _ = connection.oneway(req).await;
            });
        }
    }
}
