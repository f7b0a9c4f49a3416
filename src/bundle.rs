//! The evidence folder as one signed bundle, and the merge of nextest shards into one.
//!
//! An evidence folder (written by `case-harness evidence`, by the acceptance target when
//! `CASE_HARNESS_JUNIT_PATH`/`CASE_HARNESS_ACCEPTANCE_DIR` point into it, or by
//! `evidence merge`) holds `trials.json` (every trial's record: the machine-readable truth the
//! JUnit and `summary.md` are rendered from), `junit.xml`, `summary.md` and `runs/<trial>/`.
//! Signed, it also holds `attestation.dsse.json`: an in-toto Statement over every file in the
//! folder with a Test Result predicate computed from `trials.json` alone, so a verifier can
//! recompute it.
//!
//! A CI that splits the suite (`cargo nextest run --partition`, or an archive run on another
//! machine) gets one such folder per shard, each signed (`case-harness evidence sign SHARD`).
//! `merge` trusts no shard on its word: it takes only shards whose envelope verifies with one
//! of the `--shard-key` keys and still covers every file, re-verifies (as `verify --key` does,
//! with the key that signed the shard) every run report a trial lists, requires a passed
//! trial to list one report per `run` step of its scenario, and requires every shard to come
//! from the SOT the merge plans with. It fails — naming the shard or the trials — when any of
//! that does not hold, when a planned trial is in no shard, when a trial has a passed record
//! in one shard and a failed one in another, or when a shard holds a trial the plan does not
//! know. A `skipped` record says "not run here", so a run result elsewhere supersedes it.
//!
//! Run reports inside a bundle are not all meant to verify: some trials forge a report on
//! purpose to prove `verify` rejects it. Their records say which (`forged_reports`), and the
//! merge requires exactly those to be rejected. The bundle's signature covers their bytes as
//! the trials left them; each run's own envelope and `verify` judge each run.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use serde_json::{Value, json};

use crate::attestation::{self, AttestationError};
use crate::output::TrialRecord;
use crate::signing::{EvidenceKey, EvidenceSigner};

pub(crate) use crate::run_folder::TRIALS;
/// The folder of run folders, one sub-folder per trial.
pub(crate) const RUNS: &str = "runs";

/// `trials.json`: what ran, from which SOT, and (after a merge) from which shards.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrialsFile {
    /// sha256 of the SOT the trials were planned from, when known.
    #[serde(default)]
    pub sot_sha256: Option<String>,
    /// The shard folders a merge joined (empty for a single run).
    #[serde(default)]
    pub shards: Vec<String>,
    /// The key id that verified each shard's envelope, in the order of `shards` (empty for a
    /// single run): which `--shard-key` keys the merge checked.
    #[serde(default)]
    pub shard_keys: Vec<String>,
    /// Every trial record, sorted by name.
    pub trials: Vec<TrialRecord>,
}

/// Why a bundle could not be read, written or merged.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// A file or folder could not be read or written.
    #[error(transparent)]
    Io(#[from] crate::path_io::PathIoError),
    /// Writing a file atomically failed.
    #[error(transparent)]
    Evidence(#[from] crate::evidence::EvidenceError),
    /// `trials.json` is not a trials file (or could not be encoded as one).
    #[error("{}: not a trials file: {source}", path.display())]
    TrialsFile {
        /// The file.
        path: PathBuf,
        /// What the JSON parser said.
        #[source]
        source: serde_json::Error,
    },
    /// `--out` already holds files.
    #[error("{}: --out must be empty or missing: a merged bundle is never mixed with older files", path.display())]
    OutNotEmpty {
        /// The folder.
        path: PathBuf,
    },
    /// The merge found trials that are missing, conflicting or unknown (all listed).
    #[error("evidence merge failed:\n  - {}", .0.join("\n  - "))]
    Merge(Vec<String>),
    /// Signing failed.
    #[error(transparent)]
    Attestation(#[from] AttestationError),
}

/// Writes `trials.json` atomically.
pub fn write_trials(path: &Path, file: &TrialsFile) -> Result<(), BundleError> {
    let mut bytes = serde_json::to_vec_pretty(file).map_err(|source| BundleError::TrialsFile {
        path: path.to_owned(),
        source,
    })?;
    bytes.push(b'\n');
    Ok(crate::path_io::write_atomically(path, &bytes)?)
}

/// Reads `trials.json`.
pub(crate) fn read_trials(path: &Path) -> Result<TrialsFile, BundleError> {
    let bytes = std::fs::read(path).map_err(crate::path_io::at(path))?;
    serde_json::from_slice(&bytes).map_err(|source| BundleError::TrialsFile {
        path: path.to_owned(),
        source,
    })
}

/// The bundle's Test Result predicate: a pure function of `trials.json`.
pub(crate) fn predicate(file: &TrialsFile) -> Value {
    let named = |status: &str| -> Vec<&str> {
        file.trials
            .iter()
            .filter(|record| record.status == status)
            .map(|record| record.name.as_str())
            .collect()
    };
    let (passed, failed, skipped) = (named("passed"), named("failed"), named("skipped"));
    // A skipped trial proves nothing: the bundle as a whole is then at best WARNED.
    let result = if !failed.is_empty() || file.trials.is_empty() {
        "FAILED"
    } else if !skipped.is_empty() {
        "WARNED"
    } else {
        "PASSED"
    };
    let configuration: Vec<Value> = file
        .sot_sha256
        .iter()
        .map(|digest| json!({ "name": "sot", "digest": { "sha256": digest } }))
        .collect();
    json!({
        "result": result,
        "configuration": configuration,
        "passedTests": passed,
        "warnedTests": Vec::<&str>::new(),
        "failedTests": failed,
        "case_harness": {
            "kind": "evidence",
            "harness_version": env!("CARGO_PKG_VERSION"),
            "skipped_tests": skipped,
            "shards": file.shards,
            "shard_keys": file
                .shards
                .iter()
                .zip(&file.shard_keys)
                .map(|(shard, keyid)| json!({ "shard": shard, "keyid": keyid }))
                .collect::<Vec<Value>>(),
        },
    })
}

/// Signs an evidence folder: `attestation.dsse.json` over every file in it.
pub(crate) fn attest(dir: &Path, signer: &EvidenceSigner) -> Result<(), BundleError> {
    let trials = read_trials(&dir.join(TRIALS))?;
    let subjects = attestation::digest_tree(dir)?;
    let envelope = attestation::sign(&attestation::statement(&subjects, predicate(&trials)), signer)?;
    attestation::write_envelope(&dir.join(attestation::ENVELOPE), &envelope)?;
    Ok(())
}

/// What a verified bundle holds.
#[derive(Debug)]
pub(crate) struct VerifiedBundle {
    /// Trials by status.
    pub counts: BTreeMap<String, usize>,
    /// Run reports that verify.
    pub reports: usize,
    /// Run reports that do not (trials forge some on purpose; see summary.md).
    pub rejected_reports: usize,
    /// The key id that signed the bundle, when a key was given.
    pub keyid: Option<String>,
}

/// Verifies an evidence folder: with `key`, its envelope (signature, every file, the predicate
/// recomputed from `trials.json`); and counts the run reports in it that verify.
pub(crate) fn verify(dir: &Path, key: Option<&EvidenceKey>) -> Result<VerifiedBundle, Vec<String>> {
    let mut problems = Vec::new();
    let trials = read_trials(&dir.join(TRIALS)).map_err(|err| vec![err.to_string()])?;
    let mut keyid = None;
    if let Some(key) = key {
        match check_envelope(dir, &trials, key) {
            Ok(id) => keyid = Some(id),
            Err(found) => problems.extend(found),
        }
    }
    let runs = dir.join(RUNS);
    // Trials that only check (no run) leave no runs/ folder at all.
    let folder = if runs.exists() {
        crate::status::collect_verified_reports(&runs).map_err(|err| vec![format!("{}: {err}", runs.display())])?
    } else {
        crate::status::EvidenceFolder::default()
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    let mut counts = BTreeMap::new();
    for record in &trials.trials {
        *counts.entry(record.status.clone()).or_default() += 1;
    }
    Ok(VerifiedBundle {
        counts,
        reports: folder.verified.len(),
        rejected_reports: folder.rejected.len(),
        keyid,
    })
}

/// Checks `dir`'s envelope with `key`: signature, every file as signed and no file added, and
/// the signed predicate recomputed from `trials`. Returns the key id that verified it.
fn check_envelope(dir: &Path, trials: &TrialsFile, key: &EvidenceKey) -> Result<String, Vec<String>> {
    let opened =
        attestation::open(&dir.join(attestation::ENVELOPE), key).map_err(|problem| vec![problem.to_string()])?;
    let mut problems: Vec<String> = attestation::check_subjects(dir, &opened.subjects)
        .iter()
        .map(ToString::to_string)
        .collect();
    if opened.statement.get("predicate") != Some(&predicate(trials)) {
        problems.push(format!("the signed predicate differs from what {TRIALS} says"));
    }
    if problems.is_empty() {
        Ok(opened.keyid)
    } else {
        Err(problems)
    }
}

/// The folder a trial's run folders live in, below `runs/`.
pub(crate) fn trial_dir_name(trial: &str) -> String {
    trial.replace("::", "__")
}

/// One planned trial as the merge needs it.
#[derive(Debug, Clone)]
pub(crate) struct ExpectedTrial {
    /// Full name.
    pub name: String,
    /// Run reports a passed record lists: one per `run` step of its scenario.
    pub reports: usize,
    /// How many of those the trial forges on purpose: one per `forge_pass` step.
    pub forged: usize,
}

/// What the shards are checked against.
#[derive(Debug)]
pub(crate) struct MergePlan<'a> {
    /// Every planned trial.
    pub trials: &'a [ExpectedTrial],
    /// sha256 of the SOT the merge plans with; every shard must name it.
    pub sot_sha256: &'a str,
    /// The `--shard-key` keys: each shard's envelope must verify with one of them.
    pub keys: &'a [EvidenceKey],
}

/// A shard whose envelope verified: its trials and the key id that signed it.
struct SignedShard {
    file: TrialsFile,
    keyid: String,
}

/// Merges shard folders into `out` (which must be empty or missing). Returns the merged
/// trials; fails, naming every shard and trial, when a shard is not signed by a `--shard-key`,
/// was changed after signing, lists a report that does not verify or misses one, comes from
/// another SOT, or when the shards do not add up to the plan.
pub(crate) fn merge(shards: &[PathBuf], out: &Path, plan: &MergePlan<'_>) -> Result<TrialsFile, BundleError> {
    let mut problems = Vec::new();
    let mut chosen: BTreeMap<String, (usize, TrialRecord)> = BTreeMap::new();
    let mut shard_keys = Vec::new();
    let mut refused = 0;
    for (index, shard) in shards.iter().enumerate() {
        // Every shard names the plan's SOT (checked here), so all name the same one.
        let checked = match check_shard(shard, plan) {
            Ok(checked) => checked,
            Err(found) => {
                problems.extend(found);
                refused += 1;
                continue;
            }
        };
        shard_keys.push(checked.keyid);
        for record in checked.file.trials {
            match chosen.get(&record.name) {
                None => {
                    chosen.insert(record.name.clone(), (index, record));
                }
                Some((first, existing)) => {
                    let ran = |status: &str| status != "skipped";
                    if ran(&existing.status) && ran(&record.status) && existing.status != record.status {
                        problems.push(format!(
                            "{} is {} in {} but {} in {}: conflicting outcomes",
                            record.name,
                            existing.status,
                            shards[*first].display(),
                            record.status,
                            shard.display()
                        ));
                    } else if !ran(&existing.status) && ran(&record.status) {
                        chosen.insert(record.name.clone(), (index, record));
                    }
                }
            }
        }
    }
    let missing: Vec<&str> = plan
        .trials
        .iter()
        .filter(|trial| !chosen.contains_key(&trial.name))
        .map(|trial| trial.name.as_str())
        .collect();
    if !missing.is_empty() {
        let why = if refused > 0 {
            "a shard is missing, failed to run, or was refused above"
        } else {
            "a shard is missing or failed to run"
        };
        problems.push(format!(
            "{} planned trial(s) are in no shard ({why}): {}",
            missing.len(),
            missing.join(", ")
        ));
    }
    for name in chosen
        .keys()
        .filter(|name| !plan.trials.iter().any(|trial| &trial.name == *name))
    {
        problems.push(format!(
            "{name} is in a shard but not in the plan (a shard of another SOT or scenarios?)"
        ));
    }
    if !problems.is_empty() {
        return Err(BundleError::Merge(problems));
    }

    prepare_out(out)?;
    let runs = out.join(RUNS);
    let mut trials = Vec::new();
    for (name, (index, mut record)) in chosen {
        let folder = trial_dir_name(&name);
        let source = shards[index].join(RUNS).join(&folder);
        if source.is_dir() {
            copy_tree(&source, &runs.join(&folder))?;
        }
        for path in &mut record.forged_reports {
            if let Some(moved) = relocate(path, &folder, &runs.join(&folder)) {
                *path = moved.display().to_string();
            }
        }
        for (path, _) in &mut record.reports {
            match relocate(path, &folder, &runs.join(&folder)) {
                Some(moved) => *path = moved.display().to_string(),
                None => problems.push(format!("{name}: report {path} is not below a {folder} folder")),
            }
            if !Path::new(path.as_str()).is_file() {
                problems.push(format!("{name}: report {path} is missing from {}", source.display()));
            }
        }
        trials.push(record);
    }
    let merged = TrialsFile {
        sot_sha256: Some(plan.sot_sha256.to_owned()),
        shards: shards.iter().map(|shard| shard.display().to_string()).collect(),
        shard_keys,
        trials,
    };
    if !problems.is_empty() {
        return Err(BundleError::Merge(problems));
    }
    write_trials(&out.join(TRIALS), &merged)?;
    Ok(merged)
}

/// Everything the merge requires of one shard before it reads its trials: signed by a
/// `--shard-key` and unchanged since, from the plan's SOT, and every report it lists
/// re-verified. Each problem names the shard.
fn check_shard(shard: &Path, plan: &MergePlan<'_>) -> Result<SignedShard, Vec<String>> {
    let named = |why: String| format!("shard {}: {why}", shard.display());
    let file = read_trials(&shard.join(TRIALS)).map_err(|err| {
        vec![named(format!(
            "{err} (a shard folder holds {TRIALS}; run the acceptance target with CASE_HARNESS_JUNIT_PATH=SHARD/junit.xml and CASE_HARNESS_ACCEPTANCE_DIR=SHARD/runs)"
        ))]
    })?;
    let key = signed_by(shard, &file, plan.keys).map_err(|why| vec![named(why)])?;
    let mut problems = Vec::new();
    match &file.sot_sha256 {
        None => problems.push(named(format!(
            "{TRIALS} names no sot_sha256, so it cannot be tied to the SOT this merge plans with"
        ))),
        Some(digest) if digest != plan.sot_sha256 => problems.push(named(format!(
            "sot_sha256 {digest} differs from the SOT this merge plans with (sha256 {}): every shard must run the same SOT",
            plan.sot_sha256
        ))),
        Some(_) => {}
    }
    for record in &file.trials {
        problems.extend(check_reports(shard, record, plan, key).into_iter().map(&named));
    }
    if problems.is_empty() {
        Ok(SignedShard {
            file,
            keyid: key.keyid().to_owned(),
        })
    } else {
        Err(problems)
    }
}

/// The first `--shard-key` whose signature on `shard`'s envelope verifies, with every file as
/// signed; or why none does.
fn signed_by<'k>(shard: &Path, file: &TrialsFile, keys: &'k [EvidenceKey]) -> Result<&'k EvidenceKey, String> {
    let envelope = shard.join(attestation::ENVELOPE);
    if std::fs::symlink_metadata(&envelope).is_err() {
        return Err(format!(
            "unsigned: it holds no {} (sign each shard after its run: {}=KEY case-harness evidence sign SHARD)",
            attestation::ENVELOPE,
            crate::signing::ENV_SIGNING_KEY
        ));
    }
    let mut refusals = Vec::new();
    for key in keys {
        match check_envelope(shard, file, key) {
            Ok(_) => return Ok(key),
            Err(problems) => refusals.push(problems.join("; ")),
        }
    }
    let keyids: Vec<&str> = keys.iter().map(EvidenceKey::keyid).collect();
    Err(format!(
        "not signed by a --shard-key, or changed since it was signed (key ids {}): {}",
        keyids.join(", "),
        refusals.join(" | ")
    ))
}

/// One trial record's reports: a passed trial lists one per `run` step of its scenario; every
/// report not marked forged verifies with `key` (as `verify --key` checks it) and has the seal
/// digest the trial recorded; every report marked forged is rejected.
fn check_reports(shard: &Path, record: &TrialRecord, plan: &MergePlan<'_>, key: &EvidenceKey) -> Vec<String> {
    let mut problems = Vec::new();
    let name = &record.name;
    let listed = |path: &String| record.reports.iter().any(|(listed, _)| listed == path);
    for path in record.forged_reports.iter().filter(|path| !listed(path)) {
        problems.push(format!("{name} marks report {path} forged but does not list it"));
    }
    if record.status == "passed"
        && let Some(expected) = plan.trials.iter().find(|trial| &trial.name == name)
        && (record.reports.len() != expected.reports || record.forged_reports.len() != expected.forged)
    {
        problems.push(format!(
            "{name} passed listing {} run report(s) ({} forged), but its scenario writes {} ({} forged on purpose): a passed trial lists every report it wrote",
            record.reports.len(),
            record.forged_reports.len(),
            expected.reports,
            expected.forged
        ));
    }
    let folder = trial_dir_name(name);
    let root = shard.join(RUNS).join(&folder);
    for (at, (path, _)) in record.reports.iter().enumerate() {
        if record.reports[..at].iter().any(|(earlier, _)| earlier == path) {
            problems.push(format!(
                "{name} lists report {path} twice: each run step writes its own"
            ));
        }
    }
    for (path, digest) in &record.reports {
        let Some(local) = relocate(path, &folder, &root) else {
            problems.push(format!(
                "{name} lists report {path}, which is not below a runs/{folder} folder"
            ));
            continue;
        };
        let verdict = crate::attestation::verify_run(&local, key)
            .map_err(|found| crate::evidence::join_findings(&found, "; "))
            .and_then(|_| {
                crate::evidence::verify(&local)
                    .map(|verified| verified.digest)
                    .map_err(|found| crate::evidence::join_findings(&found, "; "))
            });
        let forged = record.forged_reports.contains(path);
        match (verdict, forged) {
            (Ok(sealed), false) if sealed == *digest => {}
            (Ok(sealed), false) => problems.push(format!(
                "{name} lists report {} with seal digest {digest:?}, but the report's is {sealed:?}",
                local.display()
            )),
            (Err(why), false) => problems.push(format!(
                "{name} lists report {} that does not verify with key {}: {}",
                local.display(),
                key.keyid(),
                why
            )),
            (Ok(_), true) => problems.push(format!(
                "{name} marks report {} forged, but it verifies: a forged report must be one verify rejects",
                local.display()
            )),
            (Err(_), true) => {}
        }
    }
    problems
}

/// `path` re-rooted: everything after its last `folder` component, below `new_root`; `None`
/// when `path` has no such component or climbs out of it (`..`, a root).
fn relocate(path: &str, folder: &str, new_root: &Path) -> Option<PathBuf> {
    let components: Vec<_> = Path::new(path).components().collect();
    let at = components
        .iter()
        .rposition(|component| component.as_os_str() == folder)?;
    let rest = &components[at + 1..];
    if rest.is_empty() || !rest.iter().all(|component| matches!(component, Component::Normal(_))) {
        return None;
    }
    Some(
        rest.iter()
            .fold(new_root.to_owned(), |acc, component| acc.join(component)),
    )
}

fn prepare_out(out: &Path) -> Result<(), BundleError> {
    if out.exists() {
        let mut entries = std::fs::read_dir(out).map_err(crate::path_io::at(out))?;
        if entries.next().is_some() {
            return Err(BundleError::OutNotEmpty { path: out.to_owned() });
        }
        Ok(())
    } else {
        Ok(std::fs::create_dir_all(out).map_err(crate::path_io::at(out))?)
    }
}

/// Copies regular files and folders (symlinks are not followed or copied).
fn copy_tree(from: &Path, to: &Path) -> Result<(), BundleError> {
    std::fs::create_dir_all(to).map_err(crate::path_io::at(to))?;
    for entry in std::fs::read_dir(from).map_err(crate::path_io::at(from))? {
        let entry = entry.map_err(crate::path_io::at(from))?;
        let path = entry.path();
        let kind = entry.file_type().map_err(crate::path_io::at(&path))?;
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            copy_tree(&path, &target)?;
        } else if kind.is_file() {
            std::fs::copy(&path, &target).map_err(crate::path_io::at(&path))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(name: &str, status: &str) -> TrialRecord {
        TrialRecord {
            name: name.to_owned(),
            work_item: "W".to_owned(),
            bullet: String::new(),
            status: status.to_owned(),
            message: None,
            duration_ms: 0,
            gate_codes: Vec::new(),
            reports: Vec::new(),
            forged_reports: Vec::new(),
            proof: "p".to_owned(),
        }
    }

    const SOT: &str = "5a5a";

    /// A folder for shards and a key pair whose private half lies outside it.
    struct Fixture {
        dir: tempfile::TempDir,
        _keys: tempfile::TempDir,
        signer: EvidenceSigner,
        key: EvidenceKey,
    }

    impl Fixture {
        fn new() -> Fixture {
            let dir = tempfile::tempdir().expect("tempdir");
            let keys = tempfile::tempdir().expect("tempdir");
            let path = keys.path().join("k");
            let generated = crate::signing::keygen(&path).expect("keygen");
            Fixture {
                signer: EvidenceSigner::load(&path, dir.path()).expect("signer"),
                key: EvidenceKey::load(&generated.public_path).expect("public"),
                dir,
                _keys: keys,
            }
        }

        /// A signed shard of these records, planned from [`SOT`].
        fn shard(&self, name: &str, records: Vec<TrialRecord>) -> PathBuf {
            let shard = self.dir.path().join(name);
            std::fs::create_dir_all(&shard).expect("mkdir");
            let file = TrialsFile {
                sot_sha256: Some(SOT.to_owned()),
                trials: records,
                ..TrialsFile::default()
            };
            write_trials(&shard.join(TRIALS), &file).expect("write");
            attest(&shard, &self.signer).expect("sign");
            shard
        }

        fn merge(&self, shards: &[PathBuf], names: &[&str]) -> Result<TrialsFile, BundleError> {
            let trials: Vec<ExpectedTrial> = names
                .iter()
                .map(|name| ExpectedTrial {
                    name: (*name).to_owned(),
                    reports: 0,
                    forged: 0,
                })
                .collect();
            let keys = std::slice::from_ref(&self.key);
            let plan = MergePlan {
                trials: &trials,
                sot_sha256: SOT,
                keys,
            };
            merge(shards, &self.dir.path().join("out"), &plan)
        }
    }

    #[test]
    fn two_shards_that_add_up_merge_and_a_run_supersedes_a_skip() {
        let fixture = Fixture::new();
        let a = fixture.shard("a", vec![record("W::1", "passed"), record("W::3", "skipped")]);
        let b = fixture.shard("b", vec![record("W::2", "passed"), record("W::3", "passed")]);
        let merged = fixture.merge(&[a, b], &["W::1", "W::2", "W::3"]).expect("merge");
        let statuses: Vec<(&str, &str)> = merged
            .trials
            .iter()
            .map(|r| (r.name.as_str(), r.status.as_str()))
            .collect();
        assert_eq!(statuses, [("W::1", "passed"), ("W::2", "passed"), ("W::3", "passed")]);
        assert!(fixture.dir.path().join("out").join(TRIALS).is_file());
        assert_eq!(merged.shard_keys, [fixture.key.keyid(), fixture.key.keyid()]);
    }

    #[test]
    fn a_dropped_shard_fails_the_merge_naming_the_missing_trials() {
        let fixture = Fixture::new();
        let a = fixture.shard("a", vec![record("W::1", "passed")]);
        let error = fixture.merge(&[a], &["W::1", "W::2", "W::3"]).expect_err("missing");
        let text = error.to_string();
        assert!(text.contains("2 planned trial(s) are in no shard"), "{text}");
        assert!(text.contains("W::2, W::3"), "{text}");
        assert!(
            !fixture.dir.path().join("out").exists(),
            "nothing is written when the merge fails"
        );
    }

    #[test]
    fn conflicting_outcomes_and_unknown_trials_fail_the_merge_by_name() {
        let fixture = Fixture::new();
        let a = fixture.shard("a", vec![record("W::1", "passed"), record("X::9", "passed")]);
        let b = fixture.shard("b", vec![record("W::1", "failed")]);
        let text = fixture.merge(&[a, b], &["W::1"]).expect_err("conflict").to_string();
        assert!(text.contains("W::1 is passed in"), "{text}");
        assert!(text.contains("conflicting outcomes"), "{text}");
        assert!(text.contains("X::9 is in a shard but not in the plan"), "{text}");
    }

    #[test]
    fn a_passed_record_lists_each_report_once_and_as_many_as_its_run_steps() {
        let fixture = Fixture::new();
        let mut twice = record("W::1", "passed");
        let listed = fixture.dir.path().join("a/runs/W__1/step-1/run/report.json");
        twice.reports = vec![(listed.display().to_string(), String::new()); 2];
        let a = fixture.shard("a", vec![twice]);
        let trials = [ExpectedTrial {
            name: "W::1".to_owned(),
            reports: 2,
            forged: 0,
        }];
        let plan = MergePlan {
            trials: &trials,
            sot_sha256: SOT,
            keys: std::slice::from_ref(&fixture.key),
        };
        let text = merge(&[a], &fixture.dir.path().join("out"), &plan)
            .expect_err("twice")
            .to_string();
        assert!(text.contains("W::1 lists report"), "{text}");
        assert!(text.contains("twice: each run step writes its own"), "{text}");
    }

    #[test]
    fn the_predicate_reports_skips_as_warned_and_failures_as_failed() {
        let file = |records| TrialsFile {
            trials: records,
            ..TrialsFile::default()
        };
        assert_eq!(predicate(&file(vec![record("a", "passed")]))["result"], "PASSED");
        assert_eq!(
            predicate(&file(vec![record("a", "passed"), record("b", "skipped")]))["result"],
            "WARNED"
        );
        let failed = predicate(&file(vec![record("a", "failed"), record("b", "skipped")]));
        assert_eq!(failed["result"], "FAILED");
        assert_eq!(failed["failedTests"], json!(["a"]));
        assert_eq!(failed["case_harness"]["skipped_tests"], json!(["b"]));
    }

    #[test]
    fn report_paths_are_relocated_below_the_trials_folder() {
        let moved = relocate(
            "/elsewhere/shard/runs/W__1/run-2/report.json",
            "W__1",
            Path::new("/out/runs/W__1"),
        );
        assert_eq!(moved, Some(PathBuf::from("/out/runs/W__1/run-2/report.json")));
        assert_eq!(relocate("/x/report.json", "W__1", Path::new("/out")), None);
        // A listed path never leads out of the trial's folder.
        assert_eq!(
            relocate("/s/runs/W__1/../../x/report.json", "W__1", Path::new("/out")),
            None
        );
        assert_eq!(relocate("/s/runs/W__1", "W__1", Path::new("/out")), None);
    }
}
