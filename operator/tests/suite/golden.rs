//! Golden files of the desired objects: for each `tests/golden/<case>/cluster.yaml`, the
//! objects `desired::build` renders must equal `tests/golden/<case>/objects.yaml`.
//!
//! After an intended change, regenerate and review the diff:
//!
//! ```sh
//! APOGEE_UPDATE_GOLDEN=1 cargo test -p apogee-operator --test suite golden
//! ```

use std::path::{Path, PathBuf};

use apogee_operator::{RocketMQCluster, desired, yaml};

const UPDATE: &str = "APOGEE_UPDATE_GOLDEN";
const CASES: &[&str] = &["multi-master", "master-slave-sync", "master-slave-async"];

fn case_dir(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(case)
}

fn cluster(case: &str) -> RocketMQCluster {
    let path = case_dir(case).join("cluster.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    serde_saphyr::from_str(&text).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

fn rendered(case: &str) -> String {
    let objects = desired::build(&cluster(case)).unwrap_or_else(|err| panic!("{case}: {err}"));
    yaml::documents(&objects.objects()).expect("objects as YAML")
}

#[test]
fn desired_objects_match_the_golden_files() {
    let update = std::env::var_os(UPDATE).is_some();
    let mut stale = Vec::new();
    for case in CASES {
        let path = case_dir(case).join("objects.yaml");
        let actual = rendered(case);
        if update {
            std::fs::write(&path, &actual).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
            continue;
        }
        let expected = std::fs::read_to_string(&path).unwrap_or_default();
        if expected != actual {
            let line = expected
                .lines()
                .zip(actual.lines())
                .position(|(e, a)| e != a)
                .unwrap_or_else(|| expected.lines().count().min(actual.lines().count()));
            stale.push(format!(
                "{} differs from the rendered objects from line {}:\n  golden:   {:?}\n  rendered: {:?}",
                path.display(),
                line + 1,
                expected.lines().nth(line).unwrap_or("<end of file>"),
                actual.lines().nth(line).unwrap_or("<end of output>"),
            ));
        }
    }
    assert!(
        stale.is_empty(),
        "{}\n\nIf the change is intended, regenerate with `{UPDATE}=1 cargo test -p apogee-operator --test suite golden` \
         and review the diff.",
        stale.join("\n\n")
    );
}

#[test]
fn golden_yaml_reads_back_as_the_objects() {
    // The YAML writer must not change a value (the multi-line broker.conf above all).
    for case in CASES {
        let objects = desired::build(&cluster(case)).expect("build");
        let text = yaml::documents(&objects.objects()).expect("YAML");
        let read: Vec<serde_json::Value> = serde_saphyr::from_multiple(&text).expect("YAML reads back");
        let expected: Vec<serde_json::Value> = objects
            .objects()
            .iter()
            .map(|object| serde_json::to_value(object).expect("JSON"))
            .collect();
        assert_eq!(read, expected, "{case}");
    }
}
