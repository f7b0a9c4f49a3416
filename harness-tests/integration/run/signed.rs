//! Signed evidence: `CASE_HARNESS_SIGNING_KEY`, `verify --key`, `status --key`, `keygen`.
//! The consistency seal can be forged by anyone who reseals; a signature cannot.

use std::path::{Path, PathBuf};

use crate::run::common::*;

/// A key pair in the sandbox, outside the run folder.
fn keys(sandbox: &Sandbox, name: &str) -> (PathBuf, PathBuf) {
    std::fs::create_dir_all(sandbox.path("keys")).expect("keys dir");
    let private = sandbox.path("keys").join(name);
    let generated = case_harness::signing::keygen(&private).expect("keygen");
    (private, generated.public_path)
}

/// A passing simulated run signed with a fresh key; returns the sandbox and the public key.
async fn signed_passing_run() -> (Sandbox, PathBuf) {
    let sandbox = Sandbox::new();
    let (private, public) = keys(&sandbox, "signing.key");
    let provider = provider().await;
    let mut command = harness(&sandbox, Some(&base_url(&provider)));
    command.env("CASE_HARNESS_SIGNING_KEY", &private);
    let output = run(command, &sandbox, Vec::new(), &[]).await;
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert!(sandbox.out().join("attestation.dsse.json").is_file());
    (sandbox, public)
}

fn verify_with(report: &Path, key: Option<&Path>) -> (Option<i32>, String) {
    let mut command = assert_cmd::Command::cargo_bin("case-harness").expect("binary");
    command.env_clear().arg("verify");
    if let Some(key) = key {
        command.arg("--key").arg(key);
    }
    let output = command.arg(report).output().expect("runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_run_verifies_with_its_key_and_without_one_says_it_checked_consistency_only() {
    let (sandbox, public) = signed_passing_run().await;
    let report = sandbox.out().join("report.json");
    let (code, stdout) = verify_with(&report, Some(&public));
    assert_eq!(code, Some(0), "{stdout}");
    assert!(
        stdout.contains("signed: attestation.dsse.json verifies with key"),
        "{stdout}"
    );
    let (code, stdout) = verify_with(&report, None);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.contains("checked consistency only"), "{stdout}");
    assert!(stdout.contains("not origin"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_folder_resealed_passes_the_consistency_check_but_fails_verify_key() {
    let (sandbox, public) = signed_passing_run().await;
    // The forger rewrites what Case printed, updates the artifact digest and reseals: every
    // consistency check still holds.
    let stdout_log = sandbox.out().join("case-stdout.log");
    std::fs::write(&stdout_log, "forged output\n").expect("write");
    let path = sandbox.out().join("report.json");
    let mut report: case_harness::output::Report =
        serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("report");
    report.artifacts.insert(
        "case-stdout.log".to_owned(),
        case_harness::records::sha256_hex(b"forged output\n"),
    );
    let digest = case_harness::evidence::seal_digest(&report).expect("digest");
    report.seal.as_mut().expect("sealed").digest = digest;
    std::fs::write(&path, serde_json::to_vec_pretty(&report).expect("json")).expect("write");
    // …and rewrites the JUnit the harness derives from the report, as `verify` recomputes it.
    case_harness::junit::write_run_junit(&sandbox.out(), &report).expect("junit");

    let (code, stdout) = verify_with(&path, None);
    assert_eq!(code, Some(0), "the resealed forgery is consistent: {stdout}");
    let (code, stdout) = verify_with(&path, Some(&public));
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains("case-stdout.log changed since it was signed"),
        "{stdout}"
    );
    assert!(stdout.contains("report.json changed since it was signed"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consistent_folder_written_without_the_key_fails_verify_key() {
    let (signed, public) = signed_passing_run().await;
    // The same run made by someone without the key: consistent, unsigned.
    let (unsigned, _provider, output) = run_against_provider(Vec::new(), &[]).await;
    assert_eq!(output.status.code(), Some(0));
    let report = unsigned.out().join("report.json");
    assert_eq!(verify_with(&report, None).0, Some(0));
    let (code, stdout) = verify_with(&report, Some(&public));
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains("no signed attestation"), "{stdout}");
    // Nor can the signed run's envelope be borrowed for it.
    std::fs::copy(
        signed.out().join("attestation.dsse.json"),
        unsigned.out().join("attestation.dsse.json"),
    )
    .expect("copy");
    let (code, stdout) = verify_with(&report, Some(&public));
    assert_eq!(code, Some(1), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_byte_changed_in_any_file_of_a_signed_run_fails_verify_key() {
    let (sandbox, public) = signed_passing_run().await;
    let files = files_below(&sandbox.out());
    assert!(files.len() >= 10, "{files:?}");
    for relative in &files {
        let copy = tempfile::tempdir().expect("tempdir");
        let run = copy.path().join("run");
        copy_tree(&sandbox.out(), &run);
        let target = run.join(relative);
        let mut bytes = std::fs::read(&target).expect("read");
        let at = bytes.len() / 2;
        bytes[at] ^= 0x01;
        std::fs::write(&target, bytes).expect("write");
        let (code, stdout) = verify_with(&run.join("report.json"), Some(&public));
        assert_eq!(code, Some(1), "a byte flipped in {relative} went unnoticed: {stdout}");
    }
    // Untouched, the same copy verifies: the failures above are the flipped byte's.
    let copy = tempfile::tempdir().expect("tempdir");
    copy_tree(&sandbox.out(), &copy.path().join("run"));
    assert_eq!(
        verify_with(&copy.path().join("run/report.json"), Some(&public)).0,
        Some(0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signature_by_another_key_fails_naming_both_key_ids() {
    let (sandbox, _public) = signed_passing_run().await;
    let (_, other) = keys(&sandbox, "other.key");
    let (code, stdout) = verify_with(&sandbox.out().join("report.json"), Some(&other));
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains("no signature by key"), "{stdout}");
    assert!(stdout.contains("signatures claim key ids"), "{stdout}");
}

#[test]
fn a_key_inside_the_run_folder_or_readable_by_others_refuses_the_run_before_anything_starts() {
    use std::os::unix::fs::PermissionsExt;
    let sandbox = Sandbox::new();
    std::fs::create_dir_all(sandbox.out()).expect("run dir");
    let inside = sandbox.out().join("signing.key");
    case_harness::signing::keygen(&inside).expect("keygen");
    let output = harness(&sandbox, Some("http://127.0.0.1:9/v1"))
        .env("CASE_HARNESS_SIGNING_KEY", &inside)
        .args(["run", "--simulated", "--task"])
        .arg(sandbox.path("task.json"))
        .arg("--out")
        .arg(sandbox.out())
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("signing key is inside the run folder"), "{stderr}");
    assert!(!sandbox.out().join("report.json").exists());

    let (private, _) = keys(&sandbox, "open.key");
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let output = harness(&sandbox, Some("http://127.0.0.1:9/v1"))
        .env("CASE_HARNESS_SIGNING_KEY", &private)
        .args(["run", "--simulated", "--task"])
        .arg(sandbox.path("task.json"))
        .arg("--out")
        .arg(sandbox.path("run2"))
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("mode 0644"), "{stderr}");
    assert!(stderr.contains("chmod 600"), "{stderr}");
    assert!(!sandbox.path("run2").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_key_counts_only_reports_signed_by_that_key() {
    let (signed, public) = signed_passing_run().await;
    let (unsigned, _provider, _) = run_against_provider(Vec::new(), &[]).await;
    let evidence = tempfile::tempdir().expect("tempdir");
    copy_tree(&signed.out(), &evidence.path().join("signed"));
    copy_tree(&unsigned.out(), &evidence.path().join("unsigned"));
    let status = |key: Option<&Path>| {
        let mut command = assert_cmd::Command::cargo_bin("case-harness").expect("binary");
        command
            .env_clear()
            .args(["status", "--format", "json", "--sot"])
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sot/seed-one-line.md"))
            .arg("--evidence")
            .arg(evidence.path());
        if let Some(key) = key {
            command.arg("--key").arg(key);
        }
        let output = command.output().expect("runs");
        assert_eq!(output.status.code(), Some(0));
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let without = status(None);
    assert!(!without.contains("not signed by key"), "{without}");
    let with = status(Some(&public));
    assert!(
        with.contains("unsigned/report.json does not count: not signed by key"),
        "{with}"
    );
    assert!(
        !with.contains("/signed/report.json does not count: not signed"),
        "{with}"
    );
    // The signed one was looked at and verified (it is only simulated, so it does not unblock).
    assert!(
        with.contains("/signed/report.json does not count: a simulated pass report"),
        "{with}"
    );
}

#[test]
fn keygen_writes_a_0600_private_key_and_a_pem_public_key_and_never_overwrites() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join("k");
    let keygen = || {
        assert_cmd::Command::cargo_bin("case-harness")
            .expect("binary")
            .env_clear()
            .arg("keygen")
            .arg(&key)
            .output()
            .expect("runs")
    };
    let output = keygen();
    assert_eq!(output.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let private = std::fs::read_to_string(&key).expect("private");
    assert!(!stdout.contains(private.lines().nth(1).expect("body")), "{stdout}");
    assert_eq!(
        std::fs::metadata(&key).expect("key").permissions().mode() & 0o777,
        0o600
    );
    let public = std::fs::read_to_string(dir.path().join("k.pub")).expect("public");
    assert!(public.starts_with("-----BEGIN PUBLIC KEY-----"), "{public}");
    let again = keygen();
    assert_eq!(again.status.code(), Some(2));
    assert_eq!(std::fs::read_to_string(&key).expect("unchanged"), private);
}

fn files_below(dir: &Path) -> Vec<String> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).expect("read_dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if std::fs::metadata(&path).is_ok_and(|m| m.len() > 0) {
                files.push(path.strip_prefix(dir).expect("below").display().to_string());
            }
        }
    }
    files.sort();
    files
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            copy_tree(&path, &to.join(entry.file_name()));
        } else {
            std::fs::copy(&path, to.join(entry.file_name())).expect("copy");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confined_case_cannot_read_the_signing_key() {
    let sandbox = Sandbox::new();
    let (private, public) = keys(&sandbox, "signing.key");
    let provider = provider().await;
    let mut command = harness(&sandbox, Some(&base_url(&provider)));
    command.env("CASE_HARNESS_SIGNING_KEY", &private);
    // A Case that tries to steal the key into its own output (which the signature then covers).
    let steal = format!("cat '{}' > stolen.txt 2>&1; exit 0", private.display());
    let output = run(command, &sandbox, vec!["/bin/sh".into(), "-c".into(), steal], &[]).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report = sandbox.report();
    assert_ne!(report["isolation"], "none", "this test needs confinement: {stdout}");
    let stolen = std::fs::read_to_string(sandbox.out().join("case-output/stolen.txt")).expect("Case ran");
    assert!(!stolen.contains("PRIVATE KEY"), "Case read the key: {stolen}");
    assert!(std::fs::read_to_string(&private).expect("key").contains("PRIVATE KEY"));
    // The run is still signed (and fails on its own merits: no verdict).
    assert_eq!(
        verify_with(&sandbox.out().join("report.json"), Some(&public)).0,
        Some(0)
    );
}
