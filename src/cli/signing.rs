//! The bodies of the signing commands — `keygen`, `verify [--key]`, `status --key`, signing
//! the `evidence` folder, `evidence sign` and `evidence merge` — kept apart from [`crate::cli`], which stays a
//! table of flags. Output follows the CLI's rules: results on stdout, and never a key's bytes.

use std::path::{Path, PathBuf};

use super::exit::{CliError, Exit};
use crate::config::HarnessConfig;
use crate::signing::{EvidenceKey, EvidenceSigner};

/// Said whenever a verification checked consistency only.
pub(super) const CONSISTENCY_ONLY: &str = "note: checked consistency only (the report and its folder agree), not origin: anyone can write a consistent folder and reseal it; run `case-harness verify --key PUBKEY` to check who signed it";

/// `case-harness keygen PATH`.
pub(super) fn keygen(config: &HarnessConfig, path: Option<&Path>) -> Result<Exit, CliError> {
    let path = match path {
        Some(path) => path.to_owned(),
        None => config
            .default_key_dir()
            .map(|dir| dir.join(crate::signing::DEFAULT_KEY_FILE))
            .ok_or(crate::signing::KeyError::NoDefaultFolder)?,
    };
    let generated = crate::signing::keygen(&path)?;
    println!(
        "private key: {} (mode 0600; keep it where the agent under test cannot read it)",
        generated.private_path.display()
    );
    println!("public key:  {}", generated.public_path.display());
    println!("key id:      {}", generated.keyid);
    println!(
        "sign with:   {}={} case-harness run|evidence …",
        crate::signing::ENV_SIGNING_KEY,
        generated.private_path.display()
    );
    Ok(Exit::Success)
}

/// The signer named by `CASE_HARNESS_SIGNING_KEY`, checked against `evidence_dir`.
pub(super) fn signer_from(config: &HarnessConfig, evidence_dir: &Path) -> Result<Option<EvidenceSigner>, CliError> {
    match &config.signing_key {
        None => Ok(None),
        Some(path) => EvidenceSigner::load(path, evidence_dir)
            .map(Some)
            .map_err(CliError::SigningKey),
    }
}

fn load_key(key: Option<&Path>) -> Result<Option<EvidenceKey>, CliError> {
    Ok(key.map(EvidenceKey::load).transpose()?)
}

/// `case-harness verify [--key PUBKEY] REPORT.json|EVIDENCE_DIR`.
pub(super) fn verify(target: &Path, key_path: Option<&Path>) -> Result<Exit, CliError> {
    let key = load_key(key_path)?;
    if target.is_dir() {
        // A run folder is verified through its report; an evidence folder through trials.json.
        let report = target.join(crate::run_folder::REPORT);
        if std::fs::symlink_metadata(&report).is_ok() {
            return verify(&report, key_path);
        }
        if std::fs::symlink_metadata(target.join(crate::bundle::TRIALS)).is_err() {
            return not_verified(
                target,
                &[format!(
                    "holds neither {} (a run folder) nor {} (an evidence folder): give a run's report.json or an evidence folder",
                    crate::run_folder::REPORT,
                    crate::bundle::TRIALS
                )],
            );
        }
        return verify_bundle(target, key.as_ref());
    }
    if target
        .file_name()
        .is_some_and(|name| name == crate::attempts::AGGREGATE)
    {
        return match crate::attempts::verify_aggregate(target, key.as_ref()) {
            Ok(aggregate) => {
                println!(
                    "verified: {} ({} {}, {} of {} attempts passed, {} required; rate {:.2}, 95% Wilson [{:.2}, {:.2}])",
                    target.display(),
                    aggregate.outcome.as_str(),
                    aggregate.evidence_kind.as_str(),
                    aggregate.passes,
                    aggregate.attempts,
                    aggregate.required,
                    aggregate.pass_rate,
                    aggregate.wilson_95.low,
                    aggregate.wilson_95.high
                );
                print_origin(key.as_ref().map(|key| key.keyid()));
                Ok(Exit::Success)
            }
            Err(problems) => not_verified(target, &problems),
        };
    }
    // Origin first: a report not signed by this key is not looked at any further.
    let signed_by = match &key {
        None => None,
        Some(key) => match crate::attestation::verify_run(target, key) {
            Ok(keyid) => Some(keyid),
            Err(problems) => return not_verified(target, &problems),
        },
    };
    match crate::evidence::verify(target) {
        Ok(verified) => {
            println!(
                "verified: {} ({} {}, {}/{}, admission {}), sha256 {}",
                target.display(),
                verified.outcome.as_str(),
                verified.evidence_kind.as_str(),
                verified.case_model_provider,
                verified.case_model,
                verified
                    .case_model_admission_status
                    .map_or("none", |status| status.as_str()),
                verified.digest
            );
            print_origin(signed_by.as_deref());
            Ok(Exit::Success)
        }
        Err(problems) => not_verified(target, &problems),
    }
}

/// Says who signed what was verified, or that only consistency was checked.
fn print_origin(signed_by: Option<&str>) {
    match signed_by {
        Some(keyid) => println!(
            "signed: {} verifies with key {keyid}; every file's sha256 matches the signed statement",
            crate::attestation::ENVELOPE
        ),
        None => println!("{CONSISTENCY_ONLY}"),
    }
}

fn not_verified(target: &Path, problems: &[impl std::fmt::Display]) -> Result<Exit, CliError> {
    println!("NOT verified: {}", target.display());
    for problem in problems {
        println!("  - {problem}");
    }
    Ok(Exit::Failed)
}

fn verify_bundle(dir: &Path, key: Option<&EvidenceKey>) -> Result<Exit, CliError> {
    match crate::bundle::verify(dir, key) {
        Ok(verified) => {
            let counts: Vec<String> = verified
                .counts
                .iter()
                .map(|(status, count)| format!("{count} {status}"))
                .collect();
            println!(
                "verified: evidence folder {} ({}; {} run report(s) verify, {} do not — trials forge some on purpose, `verify` each to see why)",
                dir.display(),
                counts.join(", "),
                verified.reports,
                verified.rejected_reports
            );
            print_origin(verified.keyid.as_deref());
            Ok(Exit::Success)
        }
        Err(problems) => not_verified(dir, &problems),
    }
}

/// The reports of an evidence folder that `status` may count: with a key, only those whose
/// run folder is signed by it (then consistent); without, every consistent one.
pub(super) fn collect_reports(evidence: &Path, key: Option<&Path>) -> Result<crate::status::EvidenceFolder, CliError> {
    let unreadable = |source| CliError::EvidenceFolder {
        path: evidence.to_owned(),
        source,
    };
    let key = load_key(key)?;
    let Some(key) = key else {
        return crate::status::collect_verified_reports(evidence).map_err(unreadable);
    };
    crate::status::collect_reports(evidence, |path| {
        crate::attestation::verify_run(path, &key).map_err(|problems| {
            format!(
                "not signed by key {}: {}",
                key.keyid(),
                crate::evidence::join_findings(&problems, "; ")
            )
        })?;
        crate::evidence::verify(path).map_err(|problems| crate::evidence::join_findings(&problems, "; "))
    })
    .map_err(unreadable)
}

/// Signs the `evidence` main job's folder, when a key is configured.
pub(super) fn sign_evidence_folder(out: &Path, signer: Option<&EvidenceSigner>) -> Result<(), CliError> {
    match signer {
        Some(signer) => {
            crate::bundle::attest(out, signer)?;
            println!(
                "  signed:   {} (key {})",
                out.join(crate::attestation::ENVELOPE).display(),
                signer.keyid()
            );
        }
        None => println!(
            "  unsigned: set {} to sign the bundle (verify then checks consistency, not origin)",
            crate::signing::ENV_SIGNING_KEY
        ),
    }
    Ok(())
}

/// `case-harness evidence sign DIR`: signs an evidence folder (a nextest shard, after its
/// run) with `CASE_HARNESS_SIGNING_KEY`, as `evidence` signs its own.
pub(super) fn sign(config: &HarnessConfig, dir: &Path) -> Result<Exit, CliError> {
    let signer = signer_from(config, dir)?.ok_or(CliError::SigningKeyUnset)?;
    sign_evidence_folder(dir, Some(&signer))?;
    Ok(Exit::Success)
}

/// `case-harness evidence merge SHARD… --shard-key PUB… --out DIR`.
pub(super) fn merge(
    config: &HarnessConfig,
    shards: &[PathBuf],
    shard_keys: &[PathBuf],
    out: &Path,
    sot: &Path,
    scenarios: &Path,
) -> Result<Exit, CliError> {
    let signer = signer_from(config, out)?;
    let keys = shard_keys
        .iter()
        .map(|path| EvidenceKey::load(path))
        .collect::<Result<Vec<_>, _>>()?;
    let sot_sha256 = crate::records::sha256_hex(&std::fs::read(sot).map_err(crate::path_io::at(sot))?);
    let planned = crate::acceptance::AcceptanceSuite::new(sot, scenarios).plan()?;
    let expected: Vec<crate::bundle::ExpectedTrial> = planned
        .iter()
        .map(|trial| {
            let (reports, forged) = trial.report_steps();
            crate::bundle::ExpectedTrial {
                name: trial.name.clone(),
                reports,
                forged,
            }
        })
        .collect();
    let plan = crate::bundle::MergePlan {
        trials: &expected,
        sot_sha256: &sot_sha256,
        keys: &keys,
    };
    let merged = match crate::bundle::merge(shards, out, &plan) {
        Ok(merged) => merged,
        Err(crate::bundle::BundleError::Merge(problems)) => {
            println!("NOT merged: {} shard(s) into {}", shards.len(), out.display());
            for problem in problems {
                println!("  - {problem}");
            }
            return Ok(Exit::Failed);
        }
        Err(err) => return Err(err.into()),
    };
    let out = std::path::absolute(out).unwrap_or_else(|_| out.to_owned());
    crate::acceptance::write_acceptance_junit(&out.join(crate::run_folder::JUNIT), &merged.trials)?;
    let admission = super::values::current_admission(config)?;
    crate::acceptance::write_summary(&out.join("summary.md"), sot, &merged.trials, &out, admission.as_ref())?;
    let failed = merged.trials.iter().filter(|record| record.status == "failed").count();
    println!(
        "merged: {} shard(s), {} trial(s) ({} failed) into {}",
        shards.len(),
        merged.trials.len(),
        failed,
        out.display()
    );
    println!(
        "  shards:   each signed by a --shard-key (key ids {}); every run report re-verified",
        unique(&merged.shard_keys).join(", ")
    );
    sign_evidence_folder(&out, signer.as_ref())?;
    Ok(if failed == 0 { Exit::Success } else { Exit::Failed })
}

/// The distinct key ids, in order of first appearance.
fn unique(keyids: &[String]) -> Vec<&str> {
    let mut seen: Vec<&str> = Vec::new();
    for keyid in keyids {
        if !seen.contains(&keyid.as_str()) {
            seen.push(keyid);
        }
    }
    seen
}
