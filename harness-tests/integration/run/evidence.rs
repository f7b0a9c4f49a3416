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
