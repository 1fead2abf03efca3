//! What the chart renders, without a cluster: `helm lint --strict` and `helm template`.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::{
    RELEASE, RELEASE_NAMESPACE, chart_dir, helm, of_kind, one, operator_golden_objects, repo_root, run,
    succeed, template,
};

/// Namespace scope over two namespaces.
const NAMESPACED: &[&str] = &[
    "--set",
    "rbac.scope=Namespace",
    "--set-json",
    r#"watchNamespaces=["team-a","team-b"]"#,
];
/// Every optional monitoring object on.
const MONITORING: &[&str] = &[
    "--set",
    "monitoring.operator.serviceMonitor.enabled=true",
    "--set",
    "monitoring.brokers.podMonitor.enabled=true",
    "--set",
    "monitoring.brokers.serviceMonitor.enabled=true",
    "--set",
    "monitoring.prometheusRule.enabled=true",
    "--set",
    "dashboard.enabled=true",
];

/// (apiGroup, resource, verbs) of every rule the operator needs in a namespace it watches.
const NAMESPACED_RULES: &[(&str, &str, &[&str])] = &[
    (
        "rocketmq.apogee.dev",
        "rocketmqclusters",
        &["get", "list", "watch", "patch", "update"],
    ),
    (
        "rocketmq.apogee.dev",
        "rocketmqclusters/status",
        &["get", "patch", "update"],
    ),
    ("rocketmq.apogee.dev", "rocketmqclusters/finalizers", &["update"]),
    (
        "apps",
        "deployments",
        &["get", "list", "watch", "create", "patch", "update", "delete"],
    ),
    (
        "apps",
        "statefulsets",
        &["get", "list", "watch", "create", "patch", "update", "delete"],
    ),
    (
        "",
        "services",
        &["get", "list", "watch", "create", "patch", "update", "delete"],
    ),
    (
        "",
        "configmaps",
        &["get", "list", "watch", "create", "patch", "update", "delete"],
    ),
    (
        "policy",
        "poddisruptionbudgets",
        &["get", "list", "watch", "create", "patch", "update", "delete"],
    ),
    ("", "pods", &["get", "list", "watch", "delete"]),
    (
        "",
        "persistentvolumeclaims",
        &["get", "list", "watch", "patch", "delete"],
    ),
    (
        "monitoring.coreos.com",
        "servicemonitors",
        &["get", "create", "patch", "delete"],
    ),
    (
        "monitoring.coreos.com",
        "podmonitors",
        &["get", "create", "patch", "delete"],
    ),
    ("", "events", &["create", "patch"]),
    ("events.k8s.io", "events", &["create", "patch"]),
];
const STORAGE_CLASSES: (&str, &str, &[&str]) =
    ("storage.k8s.io", "storageclasses", &["get", "list", "watch"]);

type Grant = (String, String, BTreeSet<String>, Vec<String>);

/// Each (apiGroup, resource) of a rule list with its verbs and resourceNames, one entry per
/// pair, so grouping rules differently does not matter.
fn grants(rules: &Value) -> BTreeSet<Grant> {
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    };
    let mut out = BTreeSet::new();
    for rule in rules.as_array().expect("rules") {
        for group in strings(&rule["apiGroups"]) {
            for resource in strings(&rule["resources"]) {
                let verbs = strings(&rule["verbs"]).into_iter().collect();
                out.insert((group.clone(), resource, verbs, strings(&rule["resourceNames"])));
            }
        }
    }
    out
}

fn expected(rules: &[(&str, &str, &[&str])]) -> BTreeSet<Grant> {
    rules
        .iter()
        .map(|(group, resource, verbs)| {
            let verbs = verbs.iter().map(|v| (*v).to_owned()).collect();
            ((*group).to_owned(), (*resource).to_owned(), verbs, Vec::new())
        })
        .collect()
}

fn kinds(objects: &[Value]) -> Vec<String> {
    let mut kinds: Vec<String> = objects
        .iter()
        .map(|o| o["kind"].as_str().unwrap_or("?").to_owned())
        .collect();
    kinds.sort();
    kinds
}

fn container(objects: &[Value]) -> &Value {
    &one(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]
}

fn env(objects: &[Value], name: &str) -> Value {
    let env = container(objects)["env"].as_array().expect("env");
    env.iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("no env {name}"))
        .clone()
}

#[test]
fn lint_is_clean_for_every_supported_combination() {
    let home = tempfile::tempdir().expect("helm home");
    for values in [&[][..], NAMESPACED, MONITORING] {
        let out = succeed(
            helm(home.path())
                .args(["lint", "--strict"])
                .arg(chart_dir())
                .args(values),
        );
        assert!(out.contains("0 chart(s) failed"), "{out}");
    }
}

#[test]
fn the_default_install_is_the_operator_its_rbac_and_the_crd() {
    let objects = template(&[]);
    assert_eq!(
        kinds(&objects),
        [
            "ClusterRole",
            "ClusterRoleBinding",
            "CustomResourceDefinition",
            "Deployment",
            "Role",
            "RoleBinding",
            "Service",
            "ServiceAccount",
        ]
    );
    // The CRD is the committed file, as it is.
    let path = repo_root().join("crds/rocketmq.apogee.dev_rocketmqclusters.yaml");
    let committed: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(&path).expect("CRD file")).expect("CRD");
    assert_eq!(*one(&objects, "CustomResourceDefinition"), committed);
    for object in objects.iter().filter(|o| o["kind"] != "CustomResourceDefinition") {
        assert_eq!(
            object["metadata"]["labels"]["app.kubernetes.io/instance"], RELEASE,
            "{object}"
        );
        if !matches!(
            object["kind"].as_str(),
            Some("ClusterRole" | "ClusterRoleBinding")
        ) {
            assert_eq!(object["metadata"]["namespace"], RELEASE_NAMESPACE, "{object}");
        }
    }
}

#[test]
fn the_operator_pod_is_hardened_and_probed() {
    let objects = template(&[]);
    let deployment = one(&objects, "Deployment");
    // Standbys are ready: the new pod comes up before the old leader stops (never none).
    assert_eq!(deployment["spec"]["strategy"]["type"], "RollingUpdate");
    assert_eq!(
        deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"],
        0
    );
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "demo-apogee-operator");
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(pod["securityContext"]["seccompProfile"]["type"], "RuntimeDefault");
    let container = container(&objects);
    let security = &container["securityContext"];
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(security["allowPrivilegeEscalation"], false);
    assert_eq!(security["capabilities"]["drop"], json!(["ALL"]));
    assert_eq!(
        container["image"], "apogee:0.1.0",
        "the tag defaults to appVersion"
    );
    assert_eq!(container["command"], json!(["/usr/local/bin/apogee-operator"]));
    assert_eq!(
        container["args"],
        json!([
            "run",
            "--http-addr=0.0.0.0:8080",
            "--leader-elect=true",
            "--lease-name=demo-apogee-operator",
            "--drain-timeout-seconds=60",
            "--ready-timeout-seconds=600",
            "--resync-seconds=300"
        ])
    );
    assert_eq!(
        env(&objects, "POD_NAMESPACE")["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.namespace"
    );
    assert_eq!(
        env(&objects, "POD_NAME")["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.name"
    );
    assert_eq!(env(&objects, "APOGEE_WATCH_NAMESPACES")["value"], "");
    assert_eq!(env(&objects, "APOGEE_LOG")["value"], "info");
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(container["ports"][0]["containerPort"], 8080);
    assert!(container["resources"]["requests"]["memory"].is_string());
    assert!(container["resources"]["limits"]["memory"].is_string());
    let service = one(&objects, "Service");
    assert_eq!(
        service["spec"]["selector"],
        deployment["spec"]["selector"]["matchLabels"]
    );
}

#[test]
fn cluster_scope_grants_the_namespaced_rules_everywhere_and_storage_classes() {
    let objects = template(&[]);
    let mut want = expected(NAMESPACED_RULES);
    want.extend(expected(&[STORAGE_CLASSES]));
    assert_eq!(grants(&one(&objects, "ClusterRole")["rules"]), want);
    let binding = one(&objects, "ClusterRoleBinding");
    assert_eq!(binding["roleRef"]["name"], "demo-apogee-operator");
    assert_eq!(
        binding["subjects"],
        json!([{"kind": "ServiceAccount", "name": "demo-apogee-operator", "namespace": RELEASE_NAMESPACE}])
    );
    assert_leader_election_only_in_the_release_namespace(&objects);
}

#[test]
fn namespace_scope_grants_roles_in_each_watched_namespace_only() {
    let objects = template(NAMESPACED);
    assert!(
        of_kind(&objects, "ClusterRole").is_empty() && of_kind(&objects, "ClusterRoleBinding").is_empty()
    );
    let roles: Vec<&Value> = of_kind(&objects, "Role")
        .into_iter()
        .filter(|r| r["metadata"]["namespace"] != RELEASE_NAMESPACE)
        .collect();
    let namespaces: Vec<&Value> = roles.iter().map(|r| &r["metadata"]["namespace"]).collect();
    assert_eq!(namespaces, [&json!("team-a"), &json!("team-b")]);
    for role in roles {
        assert_eq!(grants(&role["rules"]), expected(NAMESPACED_RULES), "{role}");
    }
    for namespace in ["team-a", "team-b"] {
        let binding = of_kind(&objects, "RoleBinding")
            .into_iter()
            .find(|b| b["metadata"]["namespace"] == namespace)
            .unwrap_or_else(|| panic!("no RoleBinding in {namespace}"));
        assert_eq!(
            binding["roleRef"],
            json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "demo-apogee-operator"})
        );
        assert_eq!(binding["subjects"][0]["namespace"], RELEASE_NAMESPACE);
    }
    assert_eq!(env(&objects, "APOGEE_WATCH_NAMESPACES")["value"], "team-a,team-b");
    assert_leader_election_only_in_the_release_namespace(&objects);
}

fn assert_leader_election_only_in_the_release_namespace(objects: &[Value]) {
    let role = of_kind(objects, "Role")
        .into_iter()
        .find(|r| r["metadata"]["name"] == "demo-apogee-operator-leader-election")
        .expect("leader-election Role");
    assert_eq!(role["metadata"]["namespace"], RELEASE_NAMESPACE);
    let lease = |verbs: &[&str], names: &[&str]| {
        (
            "coordination.k8s.io".to_owned(),
            "leases".to_owned(),
            verbs.iter().map(|v| (*v).to_owned()).collect(),
            names.iter().map(|v| (*v).to_owned()).collect(),
        )
    };
    assert_eq!(
        grants(&role["rules"]),
        BTreeSet::from([
            lease(&["create"], &[]),
            lease(&["get", "update"], &["demo-apogee-operator"])
        ])
    );
    // No other Role or ClusterRole mentions leases.
    for other in objects
        .iter()
        .filter(|o| matches!(o["kind"].as_str(), Some("Role" | "ClusterRole")) && o != &role)
    {
        assert!(grants(&other["rules"]).iter().all(|g| g.1 != "leases"), "{other}");
    }
}

#[test]
fn namespace_scope_without_namespaces_is_refused() {
    let home = tempfile::tempdir().expect("helm home");
    let output = run(helm(home.path())
        .args(["template", RELEASE])
        .arg(chart_dir())
        .args(["--set", "rbac.scope=Namespace"]));
    assert!(
        !output.status.success(),
        "rendered a namespace-scoped install with no namespace"
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("watchNamespaces"));
    // The schema refuses unknown keys and values outside the enums.
    for bad in [
        "rbac.scop=Namespace",
        "rbac.scope=cluster",
        "image.pullPolicy=Sometimes",
    ] {
        let output = run(helm(home.path())
            .args(["template", RELEASE])
            .arg(chart_dir())
            .args(["--set", bad]));
        assert!(!output.status.success(), "--set {bad} was accepted");
    }
}

#[test]
fn monitors_select_the_broker_pods_and_services_the_operator_creates() {
    assert!(
        template(&[])
            .iter()
            .all(|o| o["apiVersion"] != "monitoring.coreos.com/v1"),
        "monitoring objects must be opt-in"
    );
    let objects = template(MONITORING);
    let monitors: Vec<&Value> = objects
        .iter()
        .filter(|o| o["apiVersion"] == "monitoring.coreos.com/v1")
        .collect();
    assert_eq!(
        monitors.len(),
        4,
        "two ServiceMonitors, a PodMonitor and a PrometheusRule"
    );
    let golden = operator_golden_objects();
    let pod_monitor = one(&objects, "PodMonitor");
    let selector = pod_monitor["spec"]["selector"]["matchLabels"]
        .as_object()
        .expect("matchLabels");
    let mut broker_pods = 0;
    for set in of_kind(&golden, "StatefulSet") {
        let template = &set["spec"]["template"];
        for (key, value) in selector {
            assert_eq!(
                &template["metadata"]["labels"][key], value,
                "{key} on {}",
                set["metadata"]["name"]
            );
        }
        let ports = template["spec"]["containers"][0]["ports"]
            .as_array()
            .expect("ports");
        assert!(ports.iter().any(|p| p["name"] == "metrics"));
        broker_pods += 1;
    }
    assert!(broker_pods >= 3);
    assert_eq!(pod_monitor["spec"]["podMetricsEndpoints"][0]["port"], "metrics");
    assert_eq!(pod_monitor["spec"]["namespaceSelector"], json!({"any": true}));
    let broker_monitor = of_kind(&objects, "ServiceMonitor")
        .into_iter()
        .find(|m| m["metadata"]["name"] == "demo-apogee-operator-brokers")
        .expect("broker ServiceMonitor");
    let selector = broker_monitor["spec"]["selector"]["matchLabels"]
        .as_object()
        .expect("matchLabels");
    let selected: Vec<&Value> = of_kind(&golden, "Service")
        .into_iter()
        .filter(|s| selector.iter().all(|(k, v)| &s["metadata"]["labels"][k] == v))
        .collect();
    assert_eq!(
        selected.len(),
        3,
        "one broker headless Service per golden cluster"
    );
    for service in selected {
        assert!(
            service["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.ends_with("-broker-hl"))
        );
        let ports = service["spec"]["ports"].as_array().expect("ports");
        assert!(ports.iter().any(|p| p["name"] == "metrics"));
    }
    let dashboard = one(&objects, "ConfigMap");
    assert_eq!(dashboard["metadata"]["labels"]["grafana_dashboard"], "1");
    let json: Value = serde_json::from_str(dashboard["data"]["apogee-brokers.json"].as_str().expect("JSON"))
        .expect("the dashboard is JSON");
    assert_eq!(json["uid"], "apogee-brokers");
    // With watchNamespaces, the broker monitors look only there.
    let watched = template(&[MONITORING, &["--set-json", r#"watchNamespaces=["mq"]"#]].concat());
    assert_eq!(
        one(&watched, "PodMonitor")["spec"]["namespaceSelector"],
        json!({"matchNames": ["mq"]})
    );
}
