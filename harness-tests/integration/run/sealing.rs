//! Property test of the seal: starting from one real, verified pass, any change to any byte
//! of any artifact, and any change to any field of the report (a value replaced, a key
//! removed or added, at any depth), makes `verify` refuse the folder.

use std::path::Path;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::Value;

use crate::run::common::*;

/// Copies a run folder (files and sub-folders; no symlinks in a harness-written folder).
fn copy_folder(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_folder(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// Every path to a value inside `value` (object keys and array indexes), the root excluded.
fn value_paths(value: &Value, prefix: &mut Vec<PathStep>, out: &mut Vec<Vec<PathStep>>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                prefix.push(PathStep::Key(key.clone()));
                out.push(prefix.clone());
                value_paths(child, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                prefix.push(PathStep::Index(index));
                out.push(prefix.clone());
                value_paths(child, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

#[derive(Debug, Clone)]
enum PathStep {
    Key(String),
    Index(usize),
}

fn parent_mut<'a>(root: &'a mut Value, path: &[PathStep]) -> &'a mut Value {
    path.iter().fold(root, |value, step| match step {
        PathStep::Key(key) => &mut value[key.as_str()],
        PathStep::Index(index) => &mut value[*index],
    })
}

/// How a report field is changed.
#[derive(Debug, Clone)]
enum FieldChange {
    /// Replaced by another value (never an equal one).
    Replace(u8),
    /// Its key removed from its object (or the item from its array).
    Remove,
    /// A sibling key added to the object holding it.
    AddSibling,
}

fn changed(old: &Value, choice: u8) -> Value {
    let candidates = [
        Value::Null,
        Value::Bool(!old.as_bool().unwrap_or(false)),
        Value::from(old.as_i64().map_or(0, |n| n.wrapping_add(1))),
        Value::from(format!("{}x", old.as_str().unwrap_or_default())),
        Value::Array(Vec::new()),
        serde_json::json!({}),
    ];
    let start = usize::from(choice) % candidates.len();
    (0..candidates.len())
        .map(|offset| &candidates[(start + offset) % candidates.len()])
        .find(|candidate| *candidate != old)
        .cloned()
        .unwrap_or(Value::Null)
}

fn apply(report: &mut Value, path: &[PathStep], change: &FieldChange) -> bool {
    let (last, parent_path) = path.split_last().expect("non-root path");
    let parent = parent_mut(report, parent_path);
    match (change, last, parent) {
        (FieldChange::Replace(choice), step, parent) => {
            let slot = match step {
                PathStep::Key(key) => &mut parent[key.as_str()],
                PathStep::Index(index) => &mut parent[*index],
            };
            *slot = changed(slot, *choice);
            true
        }
        (FieldChange::Remove, PathStep::Key(key), Value::Object(map)) => map.remove(key).is_some(),
        (FieldChange::Remove, PathStep::Index(index), Value::Array(items)) => {
            items.remove(*index);
            true
        }
        (FieldChange::AddSibling, _, Value::Object(map)) => {
            map.insert("added_by_a_forger".to_owned(), Value::Bool(true));
            true
        }
        _ => false,
    }
}

fn refused(report: &Path, what: &str) -> Result<(), TestCaseError> {
    match case_harness::evidence::verify(report) {
        Err(_) => Ok(()),
        Ok(_) => Err(TestCaseError::fail(format!("verify accepted {what}"))),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_change_to_any_artifact_or_report_field_breaks_verify() {
    let (sandbox, _provider, output) = run_against_provider(Vec::new(), &[]).await;
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let original = sandbox.out();
    let report: Value = sandbox.report();
    let artifacts: Vec<String> = report["artifacts"]
        .as_object()
        .expect("artifacts")
        .keys()
        .cloned()
        .collect();
    assert!(artifacts.len() >= 6, "{artifacts:?}");
    let mut paths = Vec::new();
    value_paths(&report, &mut Vec::new(), &mut paths);

    tokio::task::spawn_blocking(move || {
        // Control: an unchanged copy verifies, so every refusal below is the change's doing.
        let control = tempfile::tempdir().expect("tempdir");
        copy_folder(&original, control.path());
        assert!(
            case_harness::evidence::verify(&control.path().join("report.json")).is_ok(),
            "an unchanged copy of the run folder does not verify"
        );

        let config = Config {
            cases: 192,
            failure_persistence: None,
            ..Config::default()
        };
        let bytes = (0..artifacts.len(), any::<usize>(), 1u8..=255);
        TestRunner::new(config.clone())
            .run(&bytes, |(artifact, offset, mask)| {
                let copy = tempfile::tempdir().expect("tempdir");
                copy_folder(&original, copy.path());
                let file = copy.path().join(&artifacts[artifact]);
                let mut content = std::fs::read(&file).expect("artifact");
                prop_assume!(!content.is_empty());
                let at = offset % content.len();
                content[at] ^= mask;
                std::fs::write(&file, &content).expect("write");
                refused(
                    &copy.path().join("report.json"),
                    &format!("{} with byte {at} flipped by {mask:#04x}", artifacts[artifact]),
                )
            })
            .expect("byte changes");

        let change = prop_oneof![
            any::<u8>().prop_map(FieldChange::Replace),
            Just(FieldChange::Remove),
            Just(FieldChange::AddSibling),
        ];
        TestRunner::new(config)
            .run(&(0..paths.len(), change), |(path, change)| {
                let mut edited = report.clone();
                prop_assume!(apply(&mut edited, &paths[path], &change));
                prop_assume!(edited != report);
                let copy = tempfile::tempdir().expect("tempdir");
                copy_folder(&original, copy.path());
                let file = copy.path().join("report.json");
                std::fs::write(&file, serde_json::to_vec_pretty(&edited).expect("json")).expect("write");
                refused(&file, &format!("report field {:?} changed by {change:?}", paths[path]))
            })
            .expect("report field changes");
    })
    .await
    .expect("join");
}
