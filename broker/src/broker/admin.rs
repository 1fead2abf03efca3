//! Metadata administration, as mqadmin and the dashboards use it: topics
//! (UPDATE_AND_CREATE_TOPIC 17, DELETE_TOPIC_IN_BROKER 215, GET_ALL_TOPIC_CONFIG 21,
//! GET_TOPIC_CONFIG 351),
//! subscription groups (200, 201, 207), the broker's config (UPDATE_BROKER_CONFIG 25, for
//! `brokerPermission` only; GET_BROKER_CONFIG 26) and offset tables (43, 45).

use super::{
    context::BrokerContext,
    response,
    subscription_groups::SubscriptionGroupConfig,
    topics::{self, PERM_INHERIT, PERM_READ, PERM_WRITE},
};
use crate::{
    config::properties::Properties,
    namesrv::route_data::{TopicConfig, to_json},
    protocol::{ProtocolError, RemotingCommand, code::request, code::response as codes},
};

/// Topics no admin may overwrite or delete: the broker creates and owns them.
fn is_system_topic(ctx: &BrokerContext, topic: &str) -> bool {
    topic == topics::SCHEDULE_TOPIC
        || topic == topics::TRANS_HALF_TOPIC
        || topic == topics::TRANS_OP_HALF_TOPIC
        || topic == ctx.config.broker_cluster_name
        || topic == ctx.config.broker_name
        || topic.starts_with("rmq_sys_")
        || topic.starts_with("RMQ_SYS_")
}

/// What an admin request did besides answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Nothing else.
    None,
    /// The topic set changed: register with the NameServers now.
    TopicsChanged,
    /// The broker's permission changed: register now, so routes show it.
    PermissionChanged,
}

/// Answers one of the admin requests of this module; `None` for any other code.
pub fn handle(ctx: &BrokerContext, req: &RemotingCommand) -> Option<(RemotingCommand, Effect)> {
    let answer = match req.code {
        request::UPDATE_AND_CREATE_TOPIC => update_topic(ctx, req),
        request::DELETE_TOPIC_IN_BROKER => delete_topic(ctx, req),
        request::GET_ALL_TOPIC_CONFIG => Ok((
            RemotingCommand::response_to(req, codes::SUCCESS)
                .with_field("totalTopicNum", ctx.topics.names().len())
                .with_body(to_json(&ctx.topics.wrapper())),
            Effect::None,
        )),
        request::GET_TOPIC_CONFIG => req.required::<String>("topic").map(|t| match ctx.topics.get(&t) {
            Some(config) => (
                RemotingCommand::response_to(req, codes::SUCCESS).with_body(to_json(&config)),
                Effect::None,
            ),
            None => (
                response::refuse(
                    req,
                    codes::TOPIC_NOT_EXIST,
                    format!("No topic in this broker. topic: {t}"),
                ),
                Effect::None,
            ),
        }),
        request::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP => update_group(ctx, req).map(|r| (r, Effect::None)),
        request::GET_ALL_SUBSCRIPTIONGROUP_CONFIG => Ok((
            RemotingCommand::response_to(req, codes::SUCCESS).with_body(to_json(&ctx.groups.wrapper())),
            Effect::None,
        )),
        request::DELETE_SUBSCRIPTIONGROUP => delete_group(ctx, req).map(|r| (r, Effect::None)),
        request::UPDATE_BROKER_CONFIG => Ok(update_config(ctx, req)),
        request::GET_BROKER_CONFIG => {
            let mut config = ctx.config.clone();
            config.broker_permission = ctx.permission();
            Ok((
                RemotingCommand::response_to(req, codes::SUCCESS)
                    .with_body(config.to_properties().into_bytes()),
                Effect::None,
            ))
        }
        request::GET_ALL_CONSUMER_OFFSET => {
            let saved = ctx.offsets.persist();
            let path = ctx.store_root().join("config/consumerOffset.json");
            let body = saved
                .ok()
                .and_then(|()| std::fs::read(&path).ok())
                .unwrap_or_else(|| b"{\"offsetTable\":{}}".to_vec());
            Ok((
                RemotingCommand::response_to(req, codes::SUCCESS).with_body(body),
                Effect::None,
            ))
        }
        request::GET_ALL_DELAY_OFFSET => Ok((
            RemotingCommand::response_to(req, codes::SUCCESS).with_body(ctx.delay_offsets.to_json()),
            Effect::None,
        )),
        _ => return None,
    };
    Some(answer.unwrap_or_else(|err| (response::from_protocol(req, &err), Effect::None)))
}

/// UPDATE_BROKER_CONFIG: properties text in the body. Only `brokerPermission` changes on a
/// running broker (what mqadmin's updateBrokerConfig and the operator's restarts use); any
/// other key is refused by name, since Apogee reads its settings once at start. Everything
/// is checked before anything is applied.
fn update_config(ctx: &BrokerContext, req: &RemotingCommand) -> (RemotingCommand, Effect) {
    let refuse = |remark: String| {
        (
            response::refuse(req, codes::INVALID_PARAMETER, remark),
            Effect::None,
        )
    };
    let text = String::from_utf8_lossy(&req.body);
    let properties = match Properties::parse(&text, "UPDATE_BROKER_CONFIG body") {
        Ok(properties) => properties,
        Err(err) => return refuse(err.to_string()),
    };
    let mut permission = None;
    for (key, value) in properties.pairs() {
        match key {
            "brokerPermission" => match value.trim().parse::<u8>() {
                Ok(bits) if bits <= 15 => permission = Some(bits),
                _ => {
                    return refuse(format!(
                        "brokerPermission must be a number of permission bits from 0 to 15 \
                         (4 read, 2 write), got `{value}`"
                    ));
                }
            },
            other => {
                return refuse(format!(
                    "{other} cannot change on a running broker (only brokerPermission can); \
                     set it in broker.conf and restart"
                ));
            }
        }
    }
    let Some(permission) = permission else {
        return refuse("the body names no setting to update".to_owned());
    };
    let before = ctx.permission();
    ctx.set_permission(permission);
    tracing::info!(before, after = permission, "brokerPermission updated");
    (
        RemotingCommand::response_to(req, codes::SUCCESS),
        Effect::PermissionChanged,
    )
}

fn update_topic(
    ctx: &BrokerContext,
    req: &RemotingCommand,
) -> Result<(RemotingCommand, Effect), ProtocolError> {
    let name: String = req.required("topic")?;
    let read: i32 = req.required("readQueueNums")?;
    let write: i32 = req.required("writeQueueNums")?;
    let perm: i32 = req.required("perm")?;
    let filter_type: String = req
        .optional("topicFilterType")?
        .unwrap_or_else(|| "SINGLE_TAG".into());
    let sys_flag: i32 = req.optional("topicSysFlag")?.unwrap_or(0);
    let order: bool = req.optional("order")?.unwrap_or(false);
    let refuse = |remark: String| {
        Ok((
            response::refuse(req, codes::INVALID_PARAMETER, remark),
            Effect::None,
        ))
    };
    if let Err(why) = topics::validate_name(&name) {
        return refuse(why);
    }
    if is_system_topic(ctx, &name) {
        return refuse(format!("The topic[{name}] is conflict with system topic."));
    }
    if !(1..=1024).contains(&read) || !(1..=1024).contains(&write) {
        return refuse(format!(
            "queue numbers must be between 1 and 1024, got read {read} write {write}"
        ));
    }
    if perm & !(PERM_READ | PERM_WRITE | PERM_INHERIT) != 0 {
        return refuse(format!(
            "perm {perm} has bits other than read (4), write (2), inherit (1)"
        ));
    }
    let mut config = TopicConfig {
        topic_name: name,
        read_queue_nums: read,
        write_queue_nums: write,
        perm,
        topic_filter_type: filter_type,
        topic_sys_flag: sys_flag,
        order,
        ..TopicConfig::default()
    };
    if let Some(attributes) = req.field("attributes") {
        config.attributes = parse_attributes(attributes);
    }
    match ctx.topics.put(config) {
        Ok(()) => Ok((
            RemotingCommand::response_to(req, codes::SUCCESS),
            Effect::TopicsChanged,
        )),
        Err(err) => Ok((response::from_store(req, &err), Effect::None)),
    }
}

/// `+message.type=NORMAL,+k=v` (5.x): additions only; `-k` removals apply to nothing new.
fn parse_attributes(text: &str) -> std::collections::BTreeMap<String, String> {
    text.split(',')
        .filter_map(|pair| pair.trim().strip_prefix('+'))
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn delete_topic(
    ctx: &BrokerContext,
    req: &RemotingCommand,
) -> Result<(RemotingCommand, Effect), ProtocolError> {
    let name: String = req.required("topic")?;
    if is_system_topic(ctx, &name) {
        let remark = format!("The topic[{name}] is conflict with system topic.");
        return Ok((
            response::refuse(req, codes::INVALID_PARAMETER, remark),
            Effect::None,
        ));
    }
    // The messages stay until retention removes their segments, as in the reference; groups'
    // offsets on the topic go with it so a re-created topic starts clean.
    for group in ctx.offsets.groups_of_topic(&name) {
        ctx.offsets.remove_topic(&group, &name);
    }
    match ctx.topics.delete(&name) {
        Ok(_) => Ok((
            RemotingCommand::response_to(req, codes::SUCCESS),
            Effect::TopicsChanged,
        )),
        Err(err) => Ok((response::from_store(req, &err), Effect::None)),
    }
}

fn update_group(ctx: &BrokerContext, req: &RemotingCommand) -> Result<RemotingCommand, ProtocolError> {
    let config: SubscriptionGroupConfig =
        serde_json::from_slice(&req.body).map_err(|e| ProtocolError::Body {
            what: "SubscriptionGroupConfig",
            reason: e.to_string(),
        })?;
    if let Err(why) = super::subscription_groups::validate_group_name(&config.group_name) {
        return Ok(response::refuse(req, codes::INVALID_PARAMETER, why));
    }
    if config.retry_queue_nums < 0 || config.retry_max_times < -1 {
        return Ok(response::refuse(
            req,
            codes::INVALID_PARAMETER,
            "retryQueueNums must be >= 0 and retryMaxTimes >= -1",
        ));
    }
    Ok(match ctx.groups.put(config) {
        Ok(()) => RemotingCommand::response_to(req, codes::SUCCESS),
        Err(err) => response::from_store(req, &err),
    })
}

fn delete_group(ctx: &BrokerContext, req: &RemotingCommand) -> Result<RemotingCommand, ProtocolError> {
    let group: String = req.required("groupName")?;
    let clean_offset: bool = req.optional("cleanOffset")?.unwrap_or(false);
    if clean_offset {
        ctx.offsets.remove_group(&group);
    }
    Ok(match ctx.groups.delete(&group) {
        Ok(_) => RemotingCommand::response_to(req, codes::SUCCESS),
        Err(err) => response::from_store(req, &err),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_take_additions() {
        let parsed = parse_attributes("+message.type=NORMAL, -gone,+x=1");
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed["message.type"], "NORMAL");
    }
}
