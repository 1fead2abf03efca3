//! Services: a client Service and a headless Service for the NameServers, and one headless
//! Service governing every broker StatefulSet.

use std::collections::BTreeMap;

use k8s_openapi::{
    api::core::v1::{Service, ServicePort, ServiceSpec},
    apimachinery::pkg::util::intstr::IntOrString,
};

use super::{
    labels::{self, Component},
    scope::Scope,
};
use crate::ports;

/// Port names, shared by Services and containers.
pub const REMOTING: &str = "remoting";
/// The broker's VIP channel port name.
pub const VIP: &str = "vip";
/// The broker's replication port name.
pub const HA: &str = "ha";
/// The broker's HTTP (metrics and probes) port name.
pub const METRICS: &str = "metrics";

fn port(name: &str, number: i32) -> ServicePort {
    ServicePort {
        name: Some(name.to_owned()),
        port: number,
        target_port: Some(IntOrString::String(name.to_owned())),
        protocol: Some("TCP".to_owned()),
        ..ServicePort::default()
    }
}

/// How a Service's name resolves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Addressing {
    /// One virtual IP, load-balanced over ready pods.
    ClusterIp,
    /// The ready pods' own addresses.
    Headless,
    /// Every pod's own address, ready or not.
    HeadlessWithUnready,
}

fn namesrv_ports() -> Vec<ServicePort> {
    vec![port(REMOTING, i32::from(ports::NAMESRV))]
}

/// `<cluster>-namesrv`: where clients find a NameServer (any one will do: each knows every
/// broker's routes).
pub fn namesrv_client(scope: &Scope<'_>) -> Service {
    let selector = labels::selector(&scope.names, Component::NameServer);
    service(
        scope,
        scope.names.namesrv(),
        &selector,
        Addressing::ClusterIp,
        namesrv_ports(),
    )
}

/// `<cluster>-namesrv-hl`: one DNS name resolving to every ready NameServer pod. Brokers use
/// it as `namesrvAddr` because a broker must register with each NameServer, which a
/// load-balancing ClusterIP would not let it do. Unready pods are left out so a broker does
/// not wait on a NameServer that is still starting.
pub fn namesrv_headless(scope: &Scope<'_>) -> Service {
    let selector = labels::selector(&scope.names, Component::NameServer);
    service(
        scope,
        scope.names.namesrv_headless(),
        &selector,
        Addressing::Headless,
        namesrv_ports(),
    )
}

/// `<cluster>-broker-hl`: the governing Service of every group's StatefulSet, giving each
/// broker pod a stable DNS name (`<pod>.<cluster>-broker-hl`), and the target of a
/// ServiceMonitor. Unready pods are published: a pod's name must resolve while it recovers
/// its store, before it is ready.
pub fn broker_headless(scope: &Scope<'_>) -> Service {
    let selector = labels::selector(&scope.names, Component::Broker);
    let ports = vec![
        port(REMOTING, i32::from(ports::BROKER)),
        port(VIP, i32::from(ports::BROKER_VIP)),
        port(HA, i32::from(ports::BROKER_HA)),
        port(METRICS, scope.spec.metrics.port),
    ];
    service(
        scope,
        scope.names.broker_headless(),
        &selector,
        Addressing::HeadlessWithUnready,
        ports,
    )
}

fn service(
    scope: &Scope<'_>,
    name: String,
    selector: &BTreeMap<String, String>,
    addressing: Addressing,
    ports: Vec<ServicePort>,
) -> Service {
    let headless = addressing != Addressing::ClusterIp;
    Service {
        metadata: scope.meta(name, labels::object_labels(selector)),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".to_owned()),
            cluster_ip: headless.then(|| "None".to_owned()),
            selector: Some(selector.clone()),
            ports: Some(ports),
            publish_not_ready_addresses: (addressing == Addressing::HeadlessWithUnready).then_some(true),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}
