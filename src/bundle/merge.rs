//! `evidence merge`: signed shard folders of one acceptance run merged into one folder,
//! refused (naming every shard and trial) unless each shard is signed by a `--shard-key`,
//! unchanged, of the plan's SOT, and its reports verify, and the shards add up to the plan.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use super::{BundleError, RUNS, TRIALS, TrialsFile, check_envelope, read_trials, trial_dir_name, write_trials};
use crate::attestation;
use crate::output::TrialRecord;
use crate::signing::EvidenceKey;

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
    let Chosen {
        records,
        shard_keys,
        refused,
        mut problems,
    } = choose_records(shards, plan);
    problems.extend(check_coverage(plan, &records, refused));
    if !problems.is_empty() {
        return Err(BundleError::Merge(problems));
    }
    prepare_out(out)?;
    let trials = copy_records(shards, out, records, &mut problems)?;
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

/// The records of the shards that were accepted, one per trial name, with the index of the
/// shard each comes from.
struct Chosen {
    records: BTreeMap<String, (usize, TrialRecord)>,
    shard_keys: Vec<String>,
    refused: usize,
    problems: Vec<String>,
}

/// Checks every shard and picks one record per trial: a run supersedes a skip, and two runs
/// with different outcomes are a conflict.
fn choose_records(shards: &[PathBuf], plan: &MergePlan<'_>) -> Chosen {
    let mut chosen = Chosen {
        records: BTreeMap::new(),
        shard_keys: Vec::new(),
        refused: 0,
        problems: Vec::new(),
    };
    for (index, shard) in shards.iter().enumerate() {
        // Every shard names the plan's SOT (checked here), so all name the same one.
        let checked = match check_shard(shard, plan) {
            Ok(checked) => checked,
            Err(found) => {
                chosen.problems.extend(found);
                chosen.refused += 1;
                continue;
            }
        };
        chosen.shard_keys.push(checked.keyid);
        for record in checked.file.trials {
            match chosen.records.get(&record.name) {
                None => {
                    chosen.records.insert(record.name.clone(), (index, record));
                }
                Some((first, existing)) => {
                    let ran = |status: &str| status != "skipped";
                    if ran(&existing.status) && ran(&record.status) && existing.status != record.status {
                        chosen.problems.push(format!(
                            "{} is {} in {} but {} in {}: conflicting outcomes",
                            record.name,
                            existing.status,
                            shards[*first].display(),
                            record.status,
                            shard.display()
                        ));
                    } else if !ran(&existing.status) && ran(&record.status) {
                        chosen.records.insert(record.name.clone(), (index, record));
                    }
                }
            }
        }
    }
    chosen
}

/// The shards add up to the plan: no planned trial missing, no trial the plan does not know.
fn check_coverage(
    plan: &MergePlan<'_>,
    chosen: &BTreeMap<String, (usize, TrialRecord)>,
    refused: usize,
) -> Vec<String> {
    let mut problems = Vec::new();
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
    problems
}

/// Copies each chosen trial's run folders below `out/runs/` and re-roots the report paths
/// its record lists; a listed report that did not arrive is a problem.
fn copy_records(
    shards: &[PathBuf],
    out: &Path,
    chosen: BTreeMap<String, (usize, TrialRecord)>,
    problems: &mut Vec<String>,
) -> Result<Vec<TrialRecord>, BundleError> {
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
    Ok(trials)
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
            Err(problems) => refusals.push(crate::evidence::join_findings(&problems, "; ")),
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
pub(crate) mod tests {
    use super::*;
    use crate::bundle::attest;
    use crate::signing::EvidenceSigner;

    pub(crate) fn record(name: &str, status: &str) -> TrialRecord {
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
