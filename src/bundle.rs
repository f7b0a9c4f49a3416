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
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::attestation::{self, AttestationError};
use crate::output::TrialRecord;
use crate::signing::{EvidenceKey, EvidenceSigner};

mod merge;

pub(crate) use crate::run_folder::TRIALS;
pub(crate) use merge::{ExpectedTrial, MergePlan, merge};
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

/// Reads `trials.json` (a shard's comes from another machine: through the guarded open, so a
/// FIFO or a device in its place is refused, never read).
pub(crate) fn read_trials(path: &Path) -> Result<TrialsFile, BundleError> {
    use crate::guarded_files::{FinalSymlink, MAX_LOG_FILE_BYTES, read_guarded};
    let bytes = read_guarded(path, MAX_LOG_FILE_BYTES, FinalSymlink::Follow)
        .map_err(|err| crate::path_io::at(path)(err.into()))?;
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

/// One reason an evidence folder does not verify, naming the file it is about.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BundleFinding {
    /// `trials.json` could not be read or is not a trials file.
    #[error(transparent)]
    Trials(#[from] BundleError),
    /// With a key: the envelope, or a file it covers.
    #[error(transparent)]
    Envelope(#[from] attestation::AttestationFinding),
    /// With a key: the signed predicate is not the one `trials.json` gives.
    #[error("the signed predicate differs from what {TRIALS} says")]
    PredicateDiffers,
    /// The `runs/` folder could not be walked.
    #[error("{}: {source}", path.display())]
    Runs {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Verifies an evidence folder: with `key`, its envelope (signature, every file, the predicate
/// recomputed from `trials.json`); and counts the run reports in it that verify.
pub(crate) fn verify(dir: &Path, key: Option<&EvidenceKey>) -> Result<VerifiedBundle, Vec<BundleFinding>> {
    let mut problems = Vec::new();
    let trials = read_trials(&dir.join(TRIALS)).map_err(|err| vec![err.into()])?;
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
        crate::status::collect_verified_reports(&runs).map_err(|source| {
            vec![BundleFinding::Runs {
                path: runs.clone(),
                source,
            }]
        })?
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
fn check_envelope(dir: &Path, trials: &TrialsFile, key: &EvidenceKey) -> Result<String, Vec<BundleFinding>> {
    let opened = attestation::open(&dir.join(attestation::ENVELOPE), key).map_err(|problem| vec![problem.into()])?;
    let mut problems: Vec<BundleFinding> = attestation::check_subjects(dir, &opened.subjects)
        .into_iter()
        .map(BundleFinding::from)
        .collect();
    if opened.statement.get("predicate") != Some(&predicate(trials)) {
        problems.push(BundleFinding::PredicateDiffers);
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

#[cfg(test)]
mod tests {
    use super::merge::tests::record;
    use super::*;

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
    fn a_fifo_in_place_of_trials_json_is_refused_not_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(TRIALS);
        let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).expect("no NUL");
        // SAFETY: mkfifo(3) on a NUL-terminated path in a temp folder this test owns.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        let error = read_trials(&path).expect_err("a FIFO is no trials file");
        assert!(error.to_string().contains("is a FIFO, not a regular file"), "{error}");
    }
}
