//! The replication part of a broker's page. On a master, per connected slave: what it has not
//! confirmed, in bytes and in records (messages); on a slave, its link to its master: known,
//! connected, refused.

use super::exposition::{Kind, Page};
use crate::broker::context::BrokerContext;

/// Adds the replication families to `page`; `base` are the cluster and broker labels.
pub fn render(ctx: &BrokerContext, base: &[(&str, &str); 2], page: &mut Page) {
    let store = &ctx.store;
    let slaves = ctx.replication.acks.slaves();
    // Not the connection's ip:port: its port changes on every reconnect (a new series each
    // time); see `SlaveState` for why the IP and a number are all a master has.
    let labelled: Vec<(String, String, u64)> = slaves
        .iter()
        .map(|s| (s.ip().to_string(), s.index.to_string(), s.acked))
        .collect();
    page.family(
        "apogee_replication_lag_bytes",
        Kind::Gauge,
        "CommitLog bytes a connected slave has not confirmed, per slave (IP and number among \
         the slaves connected from that IP).",
    );
    let end = store.max_physical_offset();
    for (ip, index, acked) in &labelled {
        let labels = [
            base[0],
            base[1],
            ("slave", ip.as_str()),
            ("slave_index", index.as_str()),
        ];
        page.sample(
            "apogee_replication_lag_bytes",
            &labels,
            end.saturating_sub(*acked) as f64,
        );
    }
    page.family(
        "apogee_replication_lag_messages",
        Kind::Gauge,
        "CommitLog records (stored messages, system topics' included) a connected slave has not \
         confirmed, per slave; exact up to 1000000, estimated beyond.",
    );
    for (ip, index, acked) in &labelled {
        let labels = [
            base[0],
            base[1],
            ("slave", ip.as_str()),
            ("slave_index", index.as_str()),
        ];
        page.sample(
            "apogee_replication_lag_messages",
            &labels,
            store.records_after(*acked) as f64,
        );
    }
    page.single(
        "apogee_replication_slaves_connected",
        Kind::Gauge,
        "Slaves connected to this master.",
        base,
        slaves.len() as f64,
    );
    if ctx.is_master() {
        return;
    }
    let replication = &ctx.replication;
    page.single(
        "apogee_replication_refused",
        Kind::Gauge,
        "1 when this slave stopped replicating because its log diverged from the master's.",
        base,
        f64::from(u8::from(replication.refusal().is_some())),
    );
    page.single(
        "apogee_replication_master_known",
        Kind::Gauge,
        "1 when this slave knows its master's HA address.",
        base,
        f64::from(u8::from(replication.master().ha.is_some())),
    );
    page.single(
        "apogee_replication_master_connected",
        Kind::Gauge,
        "1 while this slave replicates from its master (connected, history checked), 0 otherwise.",
        base,
        f64::from(u8::from(replication.is_connected())),
    );
}
