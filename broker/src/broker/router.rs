//! The broker's request handler: one match on the request code, each arm handing the request
//! to the module that owns its semantics. Side effects that span modules (re-registering after
//! a topic change, notifying a group after a membership change, counting) happen here.

use std::sync::Arc;

use bytes::Buf;

use super::{
    admin::{self, Effect},
    context::BrokerContext,
    membership, message_query, offsets,
    pull::{self, PullContext},
    queue_locks, reports, response, retry, send,
    subscription_groups::validate_group_name,
    transactions,
};
use crate::{
    config::BrokerRole,
    protocol::{RemotingCommand, code::request, code::response as codes},
    remoting::{Connection, Handler, request_log},
    replication::acks::Replicated,
};

/// Serves every connection of a broker.
#[derive(Debug, Clone)]
pub struct BrokerHandler {
    ctx: Arc<BrokerContext>,
}

impl BrokerHandler {
    /// A handler over `ctx`.
    pub fn new(ctx: Arc<BrokerContext>) -> Self {
        Self { ctx }
    }

    async fn dispatch(&self, connection: &Arc<Connection>, req: &RemotingCommand) -> RemotingCommand {
        let ctx = &*self.ctx;
        match req.code {
            request::SEND_MESSAGE | request::SEND_MESSAGE_V2 | request::SEND_BATCH_MESSAGE => {
                self.send(connection, req).await
            }
            request::PULL_MESSAGE | request::LITE_PULL_MESSAGE => {
                let _counted = InFlight::enter(&ctx.stats.pulls_in_flight);
                self.pull(req).await
            }
            request::END_TRANSACTION => transactions::end(ctx, req).await,
            request::CONSUMER_SEND_MSG_BACK => {
                let (reply, created) = retry::send_back(ctx, req).await;
                if created {
                    ctx.register_now.notify_one();
                }
                reply
            }
            code => {
                if let Some((reply, outcome)) = membership::handle(ctx, connection, req) {
                    if outcome.topics_changed {
                        ctx.register_now.notify_one();
                    }
                    membership::notify_changed(ctx, &outcome.changed_groups);
                    return reply;
                }
                if let Some(reply) = queue_locks::handle(&ctx.queue_locks, req) {
                    return reply;
                }
                if let Some(reply) = offsets::handle(req, &ctx.store, &ctx.offsets) {
                    return reply;
                }
                if let Some((reply, effect)) = admin::handle(ctx, req) {
                    if effect != Effect::None {
                        ctx.register_now.notify_one();
                    }
                    return reply;
                }
                if let Some(reply) = reports::handle(ctx, req) {
                    return reply;
                }
                if let Some(reply) = message_query::handle(ctx, req) {
                    return reply;
                }
                response::refuse(
                    req,
                    codes::REQUEST_CODE_NOT_SUPPORTED,
                    format!("the request code {code} is not supported"),
                )
            }
        }
    }

    async fn send(&self, connection: &Arc<Connection>, req: &RemotingCommand) -> RemotingCommand {
        let ctx = &*self.ctx;
        if !ctx.is_master() {
            let remark = "message store is in slave mode, so putMessage is forbidden";
            return response::refuse(req, codes::SERVICE_NOT_AVAILABLE, remark);
        }
        if !ctx.is_writable() {
            let remark = format!(
                "the broker[{}, {}] sending message is forbidden",
                ctx.config.broker_name, ctx.broker_addr
            );
            return response::refuse(req, codes::NO_PERMISSION, remark);
        }
        let redirected = retry::redirect_exhausted(ctx, req);
        let (req, dlq_created) = match &redirected {
            Some((rewritten, created)) => (rewritten, *created),
            None => (req, false),
        };
        let started = std::time::Instant::now();
        let (mut reply, created) =
            send::handle(req, connection.peer(), &ctx.store, &ctx.topics, &ctx.send).await;
        if created || dlq_created {
            ctx.register_now.notify_one();
        }
        if reply.code == codes::SUCCESS || reply.code == codes::FLUSH_DISK_TIMEOUT {
            ctx.log_grew.notify_waiters();
            if ctx.config.broker_role == BrokerRole::SyncMaster {
                reply.code = self.replicated(&reply).await.unwrap_or(reply.code);
            }
            let count = reply.field("msgId").map_or(1, |ids| ids.split(',').count());
            let topic = send::SendHeader::parse(req).map(|h| h.topic).unwrap_or_default();
            ctx.stats.record_put(&topic, count as u64, req.body.len() as u64);
        }
        ctx.stats.put_latency.observe(started.elapsed());
        reply
    }

    /// For a SYNC_MASTER: waits until enough slaves have the send's last record. `Some(code)`
    /// replaces the answer's code when they do not (the message is stored on the master
    /// either way, as in the reference).
    async fn replicated(&self, reply: &RemotingCommand) -> Option<i32> {
        let ctx = &*self.ctx;
        let last = reply.field("msgId")?.rsplit(',').next()?;
        let last_offset = u64::from_str_radix(last.get(16..)?, 16).ok()?;
        let needed = usize::try_from(ctx.config.in_sync_replicas.saturating_sub(1).max(1)).unwrap_or(1);
        match ctx
            .replication
            .acks
            .wait(last_offset, needed, SLAVE_TIMEOUT)
            .await
        {
            Replicated::Yes => None,
            Replicated::SlaveNotAvailable => Some(codes::SLAVE_NOT_AVAILABLE),
            Replicated::Timeout => Some(codes::FLUSH_SLAVE_TIMEOUT),
        }
    }

    /// With `slaveReadEnable`, a master steers a consumer to the group's slow-consumer broker
    /// (a slave) when what it reads is so far behind the log's end that it is probably no
    /// longer in the page cache, as the reference does; the slave has the same data.
    fn slow_consumer_goes_to(&self, group: &str, body: &[u8]) -> Option<i64> {
        let ctx = &*self.ctx;
        if !ctx.config.slave_read_enable || !ctx.is_master() {
            return None;
        }
        let read_at = i64::from_be_bytes(body.get(28..36)?.try_into().ok()?);
        let behind = ctx
            .store
            .max_physical_offset()
            .saturating_sub(u64::try_from(read_at).ok()?);
        let cold = behind as f64 > offsets::total_memory() as f64 * offsets::IN_MEMORY_RATIO;
        let config = ctx.groups.get(group)?;
        cold.then_some(config.which_broker_when_consume_slowly)
    }

    async fn pull(&self, req: &RemotingCommand) -> RemotingCommand {
        let ctx = &*self.ctx;
        let Some(group) = req.field("consumerGroup").map(str::to_owned) else {
            return response::from_protocol(
                req,
                &crate::protocol::ProtocolError::MissingField("consumerGroup"),
            );
        };
        if let Err(why) = validate_group_name(&group) {
            return response::refuse(req, codes::INVALID_PARAMETER, why);
        }
        let config = match ctx.groups.find_or_create(&group) {
            Ok(Some(config)) if !config.consume_enable => {
                let remark = format!("subscription group no permission, {group}");
                return response::refuse(req, codes::NO_PERMISSION, remark)
                    .with_field("forbiddenType", pull::forbidden::GROUP);
            }
            Ok(Some(config)) => config,
            Ok(None) => {
                let remark = format!("subscription group [{group}] does not exist");
                return response::refuse(req, codes::SUBSCRIPTION_GROUP_NOT_EXIST, remark);
            }
            Err(err) => return response::from_store(req, &err),
        };
        let pull_ctx = PullContext {
            store: &ctx.store,
            topics: &ctx.topics,
            offsets: &ctx.offsets,
            max_suspend: PULL_HOLD_LIMIT,
            consume_broadcast_enable: config.consume_broadcast_enable,
        };
        let heartbeats = |group: &str, topic: &str| ctx.clients.group_subscription(group, topic);
        let mut reply = pull::handle(req, pull_ctx, heartbeats).await;
        if reply.code == codes::SUCCESS {
            // A successful pull parsed its header, so the topic is there and is a known one.
            let topic = req.field("topic").unwrap_or_default();
            let (messages, bytes) = (count_records(&reply.body), reply.body.len() as u64);
            ctx.stats.record_get(&group, topic, messages, bytes);
            if let Some(slave) = self.slow_consumer_goes_to(&group, &reply.body) {
                reply = reply.with_field("suggestWhichBrokerId", slave);
            }
        }
        reply
    }
}

/// Counts a pull while it runs, however it ends (a closed connection drops it mid-hold).
struct InFlight<'a>(&'a std::sync::atomic::AtomicI64);

impl<'a> InFlight<'a> {
    fn enter(gauge: &'a std::sync::atomic::AtomicI64) -> Self {
        gauge.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Self(gauge)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// How long a SYNC_MASTER send waits for its slaves (the reference's `slaveTimeout`).
const SLAVE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// Longest hold of a parked pull: below every client's RPC timeout (Java holds 15 s of 30 s).
const PULL_HOLD_LIMIT: std::time::Duration = std::time::Duration::from_secs(20);

/// Records in a pull body (each starts with its total size).
fn count_records(body: &[u8]) -> u64 {
    let mut rest = body;
    let mut count = 0;
    while rest.len() >= 4 {
        let size = usize::try_from((&rest[..4]).get_i32()).unwrap_or(0);
        if size == 0 || size > rest.len() {
            break;
        }
        rest = &rest[size..];
        count += 1;
    }
    count
}

impl Handler for BrokerHandler {
    async fn handle(&self, connection: Arc<Connection>, req: RemotingCommand) -> Option<RemotingCommand> {
        let reply = self.dispatch(&connection, &req).await;
        request_log::log_failure(connection.peer(), &req, &reply);
        (!req.is_oneway()).then_some(reply)
    }

    fn on_close(&self, connection: &Arc<Connection>) {
        let changed = self.ctx.clients.connection_closed(connection);
        membership::notify_changed(&self.ctx, &changed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_counted_by_their_size_fields() {
        let mut body = Vec::new();
        for size in [8_i32, 12] {
            body.extend_from_slice(&size.to_be_bytes());
            body.resize(body.len() + size as usize - 4, 0);
        }
        assert_eq!(count_records(&body), 2);
        assert_eq!(count_records(&body[..10]), 1, "a cut record is not counted");
        assert_eq!(count_records(&[]), 0);
    }
}
