//! The NameServer Deployment. NameServers keep no state that must survive a pod (brokers
//! re-register every 30 s), so a Deployment with ordinary rolling updates fits.

use k8s_openapi::{
    api::{
        apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment},
        core::v1::{
            Container, ContainerPort, EmptyDirVolumeSource, PodTemplateSpec, Probe, TCPSocketAction, Volume,
            VolumeMount,
        },
    },
    apimachinery::pkg::{
        apis::meta::v1::{LabelSelector, ObjectMeta},
        util::intstr::IntOrString,
    },
};

use super::{
    config_file::{self, ConfigFile},
    labels::{self, Component},
    pod,
    scope::Scope,
    services,
};
use crate::ports;

/// Name of the NameServer's data volume (its KV config).
const DATA_VOLUME: &str = "data";

/// `<cluster>-namesrv`. A change of `namesrv.conf` changes the template's config hash, which
/// rolls the NameServers one at a time (a new one is ready before an old one stops).
pub fn deployment(scope: &Scope<'_>, config: &ConfigFile) -> Deployment {
    let spec = &scope.spec.name_server;
    let selector = labels::selector(&scope.names, Component::NameServer);
    let container = Container {
        name: "namesrv".to_owned(),
        image: Some(scope.spec.image.clone()),
        command: Some(vec!["apogee".to_owned()]),
        args: Some(vec![
            "namesrv".to_owned(),
            "-c".to_owned(),
            format!("{}/{}", config_file::CONFIG_DIR, config_file::NAMESRV_FILE),
        ]),
        ports: Some(vec![ContainerPort {
            name: Some(services::REMOTING.to_owned()),
            container_port: i32::from(ports::NAMESRV),
            protocol: Some("TCP".to_owned()),
            ..ContainerPort::default()
        }]),
        resources: spec.resources.clone(),
        // The NameServer serves no HTTP; a TCP connect shows it accepts requests.
        startup_probe: Some(tcp_probe(5, 60)),
        readiness_probe: Some(tcp_probe(10, 3)),
        liveness_probe: Some(tcp_probe(20, 3)),
        volume_mounts: Some(vec![
            pod::config_mount(),
            VolumeMount {
                name: DATA_VOLUME.to_owned(),
                mount_path: config_file::NAMESRV_DATA_DIR.to_owned(),
                ..VolumeMount::default()
            },
        ]),
        security_context: Some(pod::container_security()),
        ..Container::default()
    };
    let volumes = vec![
        pod::config_volume(scope.names.namesrv()),
        // The KV config lives as long as the pod: RocketMQ users keep it in the NameServer,
        // but nothing in Apogee's operation depends on it surviving a rescheduled pod.
        Volume {
            name: DATA_VOLUME.to_owned(),
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..Volume::default()
        },
    ];
    Deployment {
        metadata: scope.meta(scope.names.namesrv(), labels::object_labels(&selector)),
        spec: Some(DeploymentSpec {
            replicas: Some(spec.replicas),
            selector: LabelSelector {
                match_labels: Some(selector.clone()),
                ..LabelSelector::default()
            },
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".to_owned()),
                rolling_update: Some(RollingUpdateDeployment {
                    max_surge: Some(IntOrString::Int(1)),
                    max_unavailable: Some(IntOrString::Int(0)),
                }),
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels::object_labels(&selector)),
                    annotations: Some(labels::pod_annotations(
                        &spec.pod.annotations,
                        &config.hash,
                        scope.restart_token,
                    )),
                    ..ObjectMeta::default()
                }),
                spec: Some(pod::pod_spec(&spec.pod, &selector, vec![container], volumes)),
            },
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    }
}

fn tcp_probe(period_seconds: i32, failure_threshold: i32) -> Probe {
    Probe {
        tcp_socket: Some(TCPSocketAction {
            port: IntOrString::String(services::REMOTING.to_owned()),
            ..TCPSocketAction::default()
        }),
        period_seconds: Some(period_seconds),
        timeout_seconds: Some(3),
        failure_threshold: Some(failure_threshold),
        ..Probe::default()
    }
}
