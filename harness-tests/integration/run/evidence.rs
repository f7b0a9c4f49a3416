//! The main job: `case-harness evidence` runs every scenario outside `cargo test`.

#[test]
fn evidence_writes_a_summary_junit_and_run_folders_for_every_bullet_and_signs_the_bundle() {
    let out = tempfile::tempdir().expect("tempdir");
    let keys = tempfile::tempdir().expect("tempdir");
    let key = keys.path().join("signing.key");
    let public = case_harness::signing::keygen(&key).expect("keygen").public_path;
    let mut command = assert_cmd::Command::cargo_bin("case-harness").expect("binary");
    command.env_clear().env("CASE_HARNESS_SIGNING_KEY", &key);
    if let Some(path) = std::env::var_os("PATH") {
        command.env("PATH", path);
    }
    let output = command
        .arg("evidence")
        .arg("--out")
        .arg(out.path())
        .output()
        .expect("runs");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );

    let summary = std::fs::read_to_string(out.path().join("summary.md")).expect("summary.md");
    assert_eq!(summary.matches("| ✅ pass |").count(), 19, "{summary}");
    assert!(summary.contains("CTO-WORK-022::real-case-stage2 | ⏭ skipped: set CTO_HARNESS_CASE_LOCAL_BASE_URL"));
    assert!(summary.contains("- **CTO-WORK-022**: blocked"), "{summary}");
    crate::run::common::evidence_snapshots(out.path()).bind(|| insta::assert_snapshot!("evidence-summary", summary));

    let junit = std::fs::read_to_string(out.path().join("junit.xml")).expect("junit.xml");
    assert_eq!(junit.matches("<testcase ").count(), 20);
    assert_eq!(junit.matches("<skipped").count(), 1);

    // Each bullet trial left at least one run folder with its report.
    let reports: Vec<_> = walk(&out.path().join("runs"))
        .into_iter()
        .filter(|path| path.ends_with("run/report.json"))
        .collect();
    assert!(reports.len() >= 19, "{reports:?}");

    // CI attachments: every trial's reports and their envelopes.
    assert!(junit.matches("[[ATTACHMENT|").count() >= 2 * 19, "{junit}");
    assert!(junit.contains("/run/attestation.dsse.json]]"), "{junit}");

    // The bundle is signed over every file in it; a changed byte anywhere is caught.
    let verify = |target: &std::path::Path| {
        let output = assert_cmd::Command::cargo_bin("case-harness")
            .expect("binary")
            .env_clear()
            .args(["verify", "--key"])
            .arg(&public)
            .arg(target)
            .output()
            .expect("runs");
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )
    };
    let (code, stdout) = verify(out.path());
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.contains("signed: attestation.dsse.json verifies"), "{stdout}");
    let summary_path = out.path().join("summary.md");
    std::fs::write(&summary_path, summary.replacen("✅ pass", "✅ PASS", 1)).expect("write");
    let (code, stdout) = verify(out.path());
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains("summary.md changed since it was signed"), "{stdout}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(walk(&path));
        } else {
            found.push(path);
        }
    }
    found
}

/// `evidence` with no scenarios (every bullet an unmapped, failing trial): quick, and writes a
/// whole evidence folder all the same.
fn quick_evidence(dir: &std::path::Path, out: &str, extra: &[&str]) -> (Option<i32>, String) {
    let scenarios = tempfile::tempdir().expect("tempdir");
    let mut command = assert_cmd::Command::cargo_bin("case-harness").expect("binary");
    command.env_clear().current_dir(dir);
    if let Some(path) = std::env::var_os("PATH") {
        command.env("PATH", path);
    }
    let output = command
        .arg("evidence")
        .arg("--scenarios")
        .arg(scenarios.path())
        .args(["--out", out])
        .args(extra)
        .output()
        .expect("runs");
    (
        output.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

#[test]
fn evidence_out_never_deletes_a_users_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("runs")).expect("mkdir");
    let important = dir.path().join("runs/important.txt");
    std::fs::write(&important, "mine").expect("write");
    for (out, extra) in [(".", &[][..]), (".", &["--force"][..])] {
        let (code, text) = quick_evidence(dir.path(), out, extra);
        assert_eq!(code, Some(2), "{text}");
        assert!(
            text.contains("holds no earlier `case-harness evidence` output"),
            "{text}"
        );
    }
    assert_eq!(std::fs::read_to_string(&important).expect("kept"), "mine");
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(left, ["runs"], "evidence wrote into a user's folder");
}

#[test]
fn evidence_force_replaces_only_its_own_earlier_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, text) = quick_evidence(dir.path(), "ev", &[]);
    assert_eq!(code, Some(1), "unmapped bullets fail: {text}");
    let summary = dir.path().join("ev/summary.md");
    let first = std::fs::read_to_string(&summary).expect("summary.md");
    assert!(dir.path().join("ev/.case-harness-evidence").is_file());
    assert!(dir.path().join("ev/trials.json").is_file());

    let (code, text) = quick_evidence(dir.path(), "ev", &[]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("pass --force to replace it"), "{text}");
    assert_eq!(std::fs::read_to_string(&summary).expect("kept"), first);

    let (code, text) = quick_evidence(dir.path(), "ev", &["--force"]);
    assert_eq!(code, Some(1), "{text}");

    // A user's file beside the earlier run: refused even with --force, and kept.
    std::fs::write(dir.path().join("ev/notes.txt"), "mine").expect("write");
    let (code, text) = quick_evidence(dir.path(), "ev", &["--force"]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("notes.txt"), "{text}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("ev/notes.txt")).expect("kept"),
        "mine"
    );
    assert!(summary.is_file(), "the earlier run was deleted anyway");
}

/// Ctrl-C on `evidence` (SIGINT to its process only, as a test can send it): the trials in
/// progress end their `run` and are recorded as interrupted, in junit.xml and summary.md,
/// never as failed; the rest are not run; the exit code is 130.
#[test]
fn ctrl_c_on_evidence_records_interrupted_trials_and_exits_130() {
    use std::time::{Duration, Instant};
    let out = tempfile::tempdir().expect("tempdir");
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_case-harness"));
    command.env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        command.env("PATH", path);
    }
    let mut child = command
        .arg("evidence")
        .arg("--out")
        .arg(out.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    // Wait until a trial's `run` has written its run folder: a trial is in progress.
    let deadline = Instant::now() + Duration::from_secs(120);
    let in_progress = || {
        walk(&out.path().join("runs"))
            .iter()
            .any(|path| path.ends_with("run/trace.jsonl"))
    };
    while !in_progress() {
        assert!(Instant::now() < deadline, "no trial started");
        std::thread::sleep(Duration::from_millis(10));
    }
    // SAFETY: kill(2) on the child this test started.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let status = child.wait().expect("reaped");
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().expect("stdout"), &mut stdout).expect("read");
    assert_eq!(status.code(), Some(130), "{stdout}");

    let junit = std::fs::read_to_string(out.path().join("junit.xml")).expect("junit.xml");
    let summary = std::fs::read_to_string(out.path().join("summary.md")).expect("summary.md");
    assert!(!junit.contains("<failure"), "{junit}");
    assert!(!summary.contains("❌"), "{summary}");
    assert!(
        summary.contains("⏸ interrupted: step 1 (Run): interrupted by SIGINT"),
        "{summary}"
    );
    assert!(
        summary.contains("not run: the evidence run was stopped by SIGINT"),
        "{summary}"
    );
    assert!(junit.contains("interrupted by SIGINT"), "{junit}");
}
