//! `case-harness evidence merge`: signed shards joined into one bundle, or refused by name.
//!
//! The shards here are real: one `case-harness evidence` run (every acceptance scenario, its
//! runs and folder signed) is made once and copied per test, split or edited as each attack
//! needs, and re-signed with `evidence sign` where the attacker is assumed to hold the key.
//! (Real nextest shards, one from an archive, are merged by scripts/shards.sh in CI.) Each
//! attack test names the merge check it pins; without that check the merge would accept it.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use base64::Engine;
use case_harness::bundle::{TrialsFile, write_trials};
use serde_json::Value;

/// The signing key pair and one signed evidence folder of the whole suite, made once.
struct Base {
    key: PathBuf,
    public: PathBuf,
    keyid: String,
    shard: PathBuf,
}

fn base() -> &'static Base {
    static BASE: OnceLock<Base> = OnceLock::new();
    BASE.get_or_init(|| {
        let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
        remove_bases_of_ended_processes(tmp);
        let root = tmp.join(format!("merge-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let keys = root.join("keys");
        std::fs::create_dir_all(&keys).expect("keys");
        let key = keys.join("signing.key");
        let generated = case_harness::signing::keygen(&key).expect("keygen");
        let shard = root.join("shard");
        let output = harness(Some(&key))
            .arg("evidence")
            .arg("--out")
            .arg(&shard)
            .output()
            .expect("runs");
        assert_eq!(
            output.status.code(),
            Some(0),
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            shard.join("attestation.dsse.json").is_file(),
            "the evidence folder is signed"
        );
        Base {
            key,
            public: generated.public_path,
            keyid: generated.keyid,
            shard,
        }
    })
}

/// The base shards of test processes that have ended (`merge-PID` with no /proc/PID).
fn remove_bases_of_ended_processes(tmp: &Path) {
    for entry in std::fs::read_dir(tmp).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(pid) = name.strip_prefix("merge-").filter(|pid| pid.parse::<u32>().is_ok())
            && !Path::new("/proc").join(pid).exists()
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn harness(signing_key: Option<&Path>) -> assert_cmd::Command {
    let mut command = assert_cmd::Command::cargo_bin("case-harness").expect("binary");
    command.env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        command.env("PATH", path);
    }
    if let Some(key) = signing_key {
        command.env("CASE_HARNESS_SIGNING_KEY", key);
    }
    command
}

/// A copy of the base shard at `dir/name`.
fn copy(dir: &Path, name: &str) -> PathBuf {
    let to = dir.join(name);
    copy_tree(&base().shard, &to);
    to
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

fn read(shard: &Path) -> TrialsFile {
    serde_json::from_slice(&std::fs::read(shard.join("trials.json")).expect("read")).expect("trials.json")
}

/// Rewrites a shard's trials.json and signs the shard again with `key` (an attacker who
/// holds a signing key).
fn edit_and_sign(shard: &Path, key: &Path, edit: impl FnOnce(&mut TrialsFile)) {
    let mut file = read(shard);
    edit(&mut file);
    write_trials(&shard.join("trials.json"), &file).expect("write");
    sign(shard, key);
}

fn sign(shard: &Path, key: &Path) {
    let output = harness(Some(key))
        .args(["evidence", "sign"])
        .arg(shard)
        .output()
        .expect("runs");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The base shard split in two signed halves (trials and their run folders).
fn split(dir: &Path) -> (PathBuf, PathBuf) {
    let names: Vec<String> = read(&base().shard).trials.into_iter().map(|t| t.name).collect();
    let (first, second) = names.split_at(names.len() / 2);
    let half = |name: &str, keep: &[String], drop: &[String]| {
        let shard = copy(dir, name);
        for trial in drop {
            let runs = shard.join("runs").join(trial.replace("::", "__"));
            if runs.exists() {
                std::fs::remove_dir_all(runs).expect("rm");
            }
        }
        edit_and_sign(&shard, &base().key, |file| {
            file.trials.retain(|t| keep.contains(&t.name))
        });
        shard
    };
    (half("one", first, second), half("two", second, first))
}

/// `evidence merge SHARDS --shard-key PUB --out DIR`: exit code and stdout.
fn merge(shards: &[PathBuf], out: &Path) -> (Option<i32>, String) {
    let output = harness(Some(&base().key))
        .args(["evidence", "merge"])
        .args(shards)
        .arg("--shard-key")
        .arg(&base().public)
        .arg("--out")
        .arg(out)
        .output()
        .expect("runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr),
    )
}

/// The merge is refused (exit 1, nothing written) with a line naming `shard` that says `why`.
fn assert_refused(code: Option<i32>, stdout: &str, out: &Path, shard: &Path, why: &str) {
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains("NOT merged"), "{stdout}");
    let named = format!("shard {}: ", shard.display());
    assert!(
        stdout.lines().any(|line| line.contains(&named) && line.contains(why)),
        "no line names {} with {why:?}:\n{stdout}",
        shard.display()
    );
    assert!(!out.exists(), "a refused merge writes nothing");
}

fn first_report(file: &TrialsFile) -> (usize, String) {
    let index = file
        .trials
        .iter()
        .position(|t| t.status == "passed" && !t.reports.is_empty() && t.forged_reports.is_empty())
        .expect("a passed trial with a genuine report");
    (index, file.trials[index].name.clone())
}

#[test]
fn honest_signed_shards_merge_into_a_bundle_that_verifies_with_key_and_names_the_shard_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (one, two) = split(dir.path());
    let out = dir.path().join("merged");
    let (code, stdout) = merge(&[one.clone(), two.clone()], &out);
    let total = read(&base().shard).trials.len();
    assert_eq!(code, Some(0), "{stdout}");
    assert!(
        stdout.contains(&format!("merged: 2 shard(s), {total} trial(s) (0 failed)")),
        "{stdout}"
    );
    let verified = harness(None)
        .args(["verify", "--key"])
        .arg(&base().public)
        .arg(&out)
        .output()
        .expect("runs");
    let said = String::from_utf8_lossy(&verified.stdout);
    assert_eq!(verified.status.code(), Some(0), "{said}");
    assert!(said.contains("signed: attestation.dsse.json verifies"), "{said}");
    // The statement says which key verified each shard.
    let envelope: Value =
        serde_json::from_slice(&std::fs::read(out.join("attestation.dsse.json")).expect("envelope")).expect("json");
    let payload = base64::engine::general_purpose::STANDARD
        .decode(envelope["payload"].as_str().expect("payload"))
        .expect("base64");
    let statement: Value = serde_json::from_slice(&payload).expect("statement");
    let shard_keys = &statement["predicate"]["case_harness"]["shard_keys"];
    for (index, shard) in [one, two].iter().enumerate() {
        assert_eq!(shard_keys[index]["shard"], shard.display().to_string(), "{shard_keys}");
        assert_eq!(shard_keys[index]["keyid"], base().keyid.as_str(), "{shard_keys}");
    }
    // Forged-on-purpose reports stay marked, re-rooted below the merged folder.
    let merged = read(&out);
    let forged: Vec<&String> = merged.trials.iter().flat_map(|t| &t.forged_reports).collect();
    assert!(!forged.is_empty(), "the suite forges reports on purpose");
    assert!(
        forged.iter().all(|path| path.starts_with(&out.display().to_string())),
        "{forged:?}"
    );
}

/// Pins: a passed trial lists one report per `run` step (signed or not, a hand-written
/// trials.json of passes has no signed runs behind it).
#[test]
fn a_hand_written_shard_of_passes_is_refused_even_signed_by_a_shard_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shard = dir.path().join("hand-written");
    std::fs::create_dir_all(&shard).expect("mkdir");
    let mut file = read(&base().shard);
    for trial in &mut file.trials {
        trial.status = "passed".to_owned();
        trial.reports.clear();
        trial.forged_reports.clear();
        trial.message = None;
    }
    write_trials(&shard.join("trials.json"), &file).expect("write");
    sign(&shard, &base().key);
    let out = dir.path().join("merged");
    let (code, stdout) = merge(std::slice::from_ref(&shard), &out);
    assert_refused(code, &stdout, &out, &shard, "passed listing 0 run report(s)");
}

/// Pins: a shard must carry an envelope.
#[test]
fn an_unsigned_shard_is_refused_by_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shard = copy(dir.path(), "unsigned");
    std::fs::remove_file(shard.join("attestation.dsse.json")).expect("rm");
    let out = dir.path().join("merged");
    let (code, stdout) = merge(std::slice::from_ref(&shard), &out);
    assert_refused(
        code,
        &stdout,
        &out,
        &shard,
        "unsigned: it holds no attestation.dsse.json",
    );
}

/// Pins: every file of the shard is as signed (one byte of trials.json, outside what the
/// predicate summarises, changed after signing).
#[test]
fn a_shard_edited_by_one_byte_after_signing_is_refused_by_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shard = copy(dir.path(), "edited");
    let path = shard.join("trials.json");
    let mut bytes = std::fs::read(&path).expect("read");
    let at = bytes
        .windows(b"\"duration_ms\": ".len())
        .position(|window| window == b"\"duration_ms\": ")
        .expect("a duration")
        + b"\"duration_ms\": ".len();
    bytes[at] = if bytes[at] == b'7' { b'8' } else { b'7' };
    std::fs::write(&path, bytes).expect("write");
    let out = dir.path().join("merged");
    let (code, stdout) = merge(std::slice::from_ref(&shard), &out);
    assert_refused(code, &stdout, &out, &shard, "trials.json changed since it was signed");
}

/// Pins: the envelope verifies with a `--shard-key`.
#[test]
fn a_shard_signed_by_an_unknown_key_is_refused_by_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let keys = tempfile::tempdir().expect("tempdir");
    let other = keys.path().join("other.key");
    case_harness::signing::keygen(&other).expect("keygen");
    let shard = copy(dir.path(), "other-key");
    sign(&shard, &other);
    let out = dir.path().join("merged");
    let (code, stdout) = merge(std::slice::from_ref(&shard), &out);
    assert_refused(code, &stdout, &out, &shard, "not signed by a --shard-key");
}

/// Pins: every report a trial lists is re-verified as `verify --key` does. The report is
/// rewritten to a pass with a consistent seal, its digest recorded in trials.json and the
/// shard re-signed: only the run's own envelope still tells.
#[test]
fn a_shard_listing_a_forged_report_as_a_pass_is_refused_by_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shard = copy(dir.path(), "forged-report");
    let (index, name) = first_report(&read(&shard));
    let folder = name.replace("::", "__");
    edit_and_sign(&shard, &base().key, |file| {
        let (listed, digest) = &mut file.trials[index].reports[0];
        let at = listed.rfind(&folder).expect("below its folder") + folder.len();
        let local = shard
            .join("runs")
            .join(&folder)
            .join(listed[at..].trim_start_matches('/'));
        let mut report: case_harness::output::Report =
            serde_json::from_slice(&std::fs::read(&local).expect("report")).expect("report json");
        report.outcome = case_harness::output::RunOutcome::Pass;
        report.reasons = vec!["hand-written pass".to_owned()];
        let sealed = case_harness::evidence::seal_digest(&report).expect("digest");
        if let Some(seal) = report.seal.as_mut() {
            seal.digest = sealed.clone();
        }
        std::fs::write(&local, serde_json::to_vec_pretty(&report).expect("json")).expect("write");
        *digest = sealed;
    });
    let out = dir.path().join("merged");
    let (code, stdout) = merge(std::slice::from_ref(&shard), &out);
    assert_refused(code, &stdout, &out, &shard, &format!("{name} lists report"));
    assert!(stdout.contains("that does not verify with key"), "{stdout}");
}

/// Pins: a passed trial lists every report its scenario writes (one report dropped from one
/// trial's record, the shard re-signed).
#[test]
fn a_passed_trial_missing_its_report_is_refused_by_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shard = copy(dir.path(), "missing-report");
    let (index, name) = first_report(&read(&shard));
    edit_and_sign(&shard, &base().key, |file| {
        file.trials[index].reports.pop();
    });
    let out = dir.path().join("merged");
    let (code, stdout) = merge(std::slice::from_ref(&shard), &out);
    assert_refused(code, &stdout, &out, &shard, &format!("{name} passed listing"));
    assert!(
        stdout.contains("a passed trial lists every report it wrote"),
        "{stdout}"
    );
}

/// Pins: every shard names the SOT the merge plans with, so all shards name the same one.
#[test]
fn shards_with_differing_sot_sha256_are_refused_by_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (one, two) = split(dir.path());
    edit_and_sign(&two, &base().key, |file| {
        file.sot_sha256 = Some(case_harness::records::sha256_hex(b"another SOT"));
    });
    let out = dir.path().join("merged");
    let (code, stdout) = merge(&[one, two.clone()], &out);
    assert_refused(code, &stdout, &out, &two, "differs from the SOT this merge plans with");
}

#[test]
fn a_dropped_shard_fails_the_merge_naming_every_missing_trial_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (one, two) = split(dir.path());
    let out = dir.path().join("merged");
    let (code, stdout) = merge(&[one], &out);
    assert_eq!(code, Some(1), "{stdout}");
    let second = read(&two).trials;
    assert!(
        stdout.contains(&format!("{} planned trial(s) are in no shard", second.len())),
        "{stdout}"
    );
    for missing in &second {
        assert!(
            stdout.contains(missing.name.as_str()),
            "{} not named: {stdout}",
            missing.name
        );
    }
    assert!(!out.exists());
}

#[test]
fn the_same_trial_passed_in_one_shard_and_failed_in_another_fails_the_merge_by_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let one = copy(dir.path(), "one");
    let two = copy(dir.path(), "two");
    let (index, name) = first_report(&read(&two));
    edit_and_sign(&two, &base().key, |file| {
        let trial = &mut file.trials[index];
        trial.status = "failed".to_owned();
        trial.reports.clear();
    });
    let (code, stdout) = merge(&[one, two], &dir.path().join("merged"));
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains(&format!("{name} is passed in")), "{stdout}");
    assert!(stdout.contains("conflicting outcomes"), "{stdout}");
}
