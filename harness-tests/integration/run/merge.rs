//! `case-harness evidence merge`: shard folders → one summary, JUnit and signed bundle, or a
//! failure naming the trials that do not add up. (Real nextest shards, one from an archive, are
//! merged by scripts/shards.sh in CI; here the shards are written by hand to pin the rules.)

use std::path::{Path, PathBuf};

use case_harness::acceptance::TrialRecord;
use case_harness::bundle::{TrialsFile, write_trials};

fn planned_names() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    case_harness::acceptance::AcceptanceSuite::new(root.join("fixtures/sot/seed-one-line.md"), root.join("scenarios"))
        .plan()
        .expect("plan")
        .into_iter()
        .map(|trial| trial.name)
        .collect()
}

fn shard(dir: &Path, name: &str, trials: &[String]) -> PathBuf {
    let shard = dir.join(name);
    std::fs::create_dir_all(&shard).expect("mkdir");
    let trials = trials
        .iter()
        .map(|name| TrialRecord {
            name: name.clone(),
            work_item: name.split("::").next().unwrap_or_default().to_owned(),
            bullet: String::new(),
            status: "passed".to_owned(),
            message: None,
            duration_ms: 1,
            gate_codes: Vec::new(),
            reports: Vec::new(),
            proof: "written by the test".to_owned(),
        })
        .collect();
    write_trials(
        &shard.join("trials.json"),
        &TrialsFile {
            trials,
            ..TrialsFile::default()
        },
    )
    .expect("trials.json");
    shard
}

fn merge(shards: &[PathBuf], out: &Path, key: Option<&Path>) -> (Option<i32>, String) {
    let mut command = assert_cmd::Command::cargo_bin("case-harness").expect("binary");
    command
        .env_clear()
        .args(["evidence", "merge"])
        .args(shards)
        .arg("--out")
        .arg(out);
    if let Some(key) = key {
        command.env("CASE_HARNESS_SIGNING_KEY", key);
    }
    let output = command.output().expect("runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[test]
fn two_shards_that_add_up_merge_into_one_signed_bundle() {
    let dir = tempfile::tempdir().expect("tempdir");
    let keys = tempfile::tempdir().expect("tempdir");
    let key = keys.path().join("k");
    let public = case_harness::signing::keygen(&key).expect("keygen").public_path;
    let names = planned_names();
    let (first, second) = names.split_at(names.len() / 2);
    let shards = [shard(dir.path(), "one", first), shard(dir.path(), "two", second)];
    let out = dir.path().join("merged");
    let (code, stdout) = merge(&shards, &out, Some(&key));
    assert_eq!(code, Some(0), "{stdout}");
    assert!(
        stdout.contains(&format!("merged: 2 shard(s), {} trial(s) (0 failed)", names.len())),
        "{stdout}"
    );
    let junit = std::fs::read_to_string(out.join("junit.xml")).expect("junit");
    assert_eq!(junit.matches("<testcase ").count(), names.len());
    assert!(
        std::fs::read_to_string(out.join("summary.md"))
            .expect("summary")
            .contains("| ✅ pass |")
    );
    let output = assert_cmd::Command::cargo_bin("case-harness")
        .expect("binary")
        .env_clear()
        .args(["verify", "--key"])
        .arg(&public)
        .arg(&out)
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("signed: attestation.dsse.json verifies"), "{stdout}");
}

#[test]
fn a_dropped_shard_fails_the_merge_naming_every_missing_trial_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let names = planned_names();
    let (first, second) = names.split_at(names.len() / 2);
    let out = dir.path().join("merged");
    let (code, stdout) = merge(&[shard(dir.path(), "one", first)], &out, None);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains(&format!("{} planned trial(s) are in no shard", second.len())),
        "{stdout}"
    );
    for missing in second {
        assert!(stdout.contains(missing.as_str()), "{missing} not named: {stdout}");
    }
    assert!(!out.exists());
}

#[test]
fn the_same_trial_passed_in_one_shard_and_failed_in_another_fails_the_merge_by_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let names = planned_names();
    let one = shard(dir.path(), "one", &names);
    let two = shard(dir.path(), "two", &names[..1]);
    let path = two.join("trials.json");
    let mut file: TrialsFile = serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json");
    file.trials[0].status = "failed".to_owned();
    write_trials(&path, &file).expect("write");
    let (code, stdout) = merge(&[one, two], &dir.path().join("merged"), None);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains(&format!("{} is passed in", names[0])), "{stdout}");
    assert!(stdout.contains("conflicting outcomes"), "{stdout}");
}
