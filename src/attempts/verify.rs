//! `verify OUT/aggregate.json [--key]`: the aggregate holds only if every attempt it lists is
//! there and verifies, no attempt folder is left out, each attempt's digest and outcome are
//! the ones listed, and every number is what the attempts give. With a key, the folder's
//! envelope must cover every file, and every attempt's own envelope must verify too.

use std::path::Path;

use super::{AGGREGATE, AttemptPlan, aggregate_of, folder_name, predicate, seal_digest, stats};
use crate::guarded_files as files;
use crate::output::{AggregateReport, Report};
use crate::signing::EvidenceKey;

/// Largest aggregate read.
const MAX_AGGREGATE_BYTES: u64 = 4 * 1024 * 1024;

/// Every problem with the aggregate at `path` (empty: it holds), and the aggregate itself
/// when it could be read.
pub(crate) fn verify_aggregate(path: &Path, key: Option<&EvidenceKey>) -> Result<AggregateReport, Vec<String>> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let bytes = files::read_bounded(path, MAX_AGGREGATE_BYTES).map_err(|err| vec![err.to_string()])?;
    let aggregate: AggregateReport =
        serde_json::from_slice(&bytes).map_err(|err| vec![format!("{}: not an aggregate: {err}", path.display())])?;
    let mut problems = Vec::new();
    if let Some(key) = key {
        problems.extend(check_envelope(&aggregate, dir, key));
    }
    problems.extend(check_seal(&aggregate));
    // The attempt folders on disk are exactly the ones listed.
    let listed: Vec<String> = (1..=aggregate.attempts).map(folder_name).collect();
    problems.extend(check_folders(&aggregate, dir, &listed));
    let reports = read_attempts(&aggregate, dir, &listed, key, &mut problems);
    if reports.len() == aggregate.runs.len() {
        problems.extend(check_numbers(&aggregate, &reports, &listed));
    }
    if problems.is_empty() {
        Ok(aggregate)
    } else {
        Err(problems)
    }
}

/// With a key: the folder's envelope verifies, covers every file, and signs this aggregate.
fn check_envelope(aggregate: &AggregateReport, dir: &Path, key: &EvidenceKey) -> Vec<String> {
    let opened = match crate::attestation::open(&dir.join(crate::attestation::ENVELOPE), key) {
        Err(problem) => return vec![problem.to_string()],
        Ok(opened) => opened,
    };
    let mut problems: Vec<String> = crate::attestation::check_subjects(dir, &opened.subjects)
        .iter()
        .map(ToString::to_string)
        .collect();
    match predicate(aggregate) {
        Ok(expected) if opened.statement.get("predicate") == Some(&expected) => {}
        Ok(_) => problems.push("the signed predicate differs from what aggregate.json says".to_owned()),
        Err(err) => problems.push(err.to_string()),
    }
    problems
}

/// The aggregate's own seal.
fn check_seal(aggregate: &AggregateReport) -> Option<String> {
    match (&aggregate.seal, seal_digest(aggregate)) {
        (Some(seal), Ok(digest)) if seal.digest == digest && seal.algorithm == crate::evidence::SEAL_ALGORITHM => None,
        (None, _) => Some(format!("{AGGREGATE} is not sealed")),
        (Some(_), Ok(_)) => {
            Some("seal digest does not match the aggregate's content (edited after sealing?)".to_owned())
        }
        (Some(_), Err(err)) => Some(err.to_string()),
    }
}

/// The attempt folders listed are `attempt-1` … `attempt-N`, and no other is on disk.
fn check_folders(aggregate: &AggregateReport, dir: &Path, listed: &[String]) -> Vec<String> {
    let mut problems = Vec::new();
    let runs: Vec<&str> = aggregate.runs.iter().map(|run| run.folder.as_str()).collect();
    if runs != listed.iter().map(String::as_str).collect::<Vec<_>>() {
        problems.push(format!(
            "the aggregate lists attempts {runs:?}, but says it ran {} ({listed:?})",
            aggregate.attempts
        ));
    }
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with("attempt-") && !listed.contains(&name) {
                problems.push(format!("{name} is in the folder but not in the aggregate"));
            }
        }
    }
    problems
}

/// Each attempt verifies (and, with a key, is signed) and has the digest listed; returns the
/// reports that could be read, pushing every problem met.
fn read_attempts(
    aggregate: &AggregateReport,
    dir: &Path,
    listed: &[String],
    key: Option<&EvidenceKey>,
    problems: &mut Vec<String>,
) -> Vec<Report> {
    let mut reports = Vec::new();
    for (run, folder) in aggregate.runs.iter().zip(listed) {
        let report_path = dir.join(folder).join(crate::run_folder::REPORT);
        if let Some(key) = key
            && let Err(found) = crate::attestation::verify_run(&report_path, key)
        {
            problems.extend(found.into_iter().map(|problem| format!("{folder}: {problem}")));
        }
        match crate::evidence::verify(&report_path) {
            Err(found) => {
                problems.extend(found.into_iter().map(|problem| format!("{folder}: {problem}")));
                continue;
            }
            Ok(verified) if verified.digest != run.report_digest => problems.push(format!(
                "{folder}: its report's digest is {}, the aggregate lists {}",
                verified.digest, run.report_digest
            )),
            Ok(_) => {}
        }
        match files::read_bounded(&report_path, MAX_AGGREGATE_BYTES)
            .map_err(|err| err.to_string())
            .and_then(|bytes| serde_json::from_slice::<Report>(&bytes).map_err(|err| err.to_string()))
        {
            Ok(report) => reports.push(report),
            Err(err) => problems.push(format!("{folder}: {err}")),
        }
    }
    reports
}

/// Every number is what the attempts give, and every attempt ran with the aggregate's pin.
fn check_numbers(aggregate: &AggregateReport, reports: &[Report], listed: &[String]) -> Vec<String> {
    let mut problems = Vec::new();
    match AttemptPlan::new(aggregate.attempts, Some(aggregate.required), aggregate.parallel.max(1)) {
        Err(problem) => problems.push(problem),
        Ok(plan) => {
            let expected = aggregate_of(reports, plan, aggregate.sampling.clone());
            problems.extend(differences(aggregate, &expected));
        }
    }
    for (report, folder) in reports.iter().zip(listed) {
        if report.sampling != aggregate.sampling {
            problems.push(format!("{folder}: its sampling pin differs from the aggregate's"));
        }
    }
    problems
}

/// Every number or word of `claimed` that is not what the attempts give.
fn differences(claimed: &AggregateReport, expected: &AggregateReport) -> Vec<String> {
    let mut problems = Vec::new();
    let mut check = |name: &str, same: bool| {
        if !same {
            problems.push(format!("{name} does not follow from the attempts"));
        }
    };
    check("passes", claimed.passes == expected.passes);
    check("pass_rate", stats::same(claimed.pass_rate, expected.pass_rate));
    check(
        "wilson_95",
        stats::same(claimed.wilson_95.low, expected.wilson_95.low)
            && stats::same(claimed.wilson_95.high, expected.wilson_95.high),
    );
    check(
        "pass_at_k",
        claimed.pass_at_k.len() == expected.pass_at_k.len()
            && claimed
                .pass_at_k
                .iter()
                .zip(&expected.pass_at_k)
                .all(|(a, b)| a.k == b.k && stats::same(a.estimate, b.estimate)),
    );
    check("runs", claimed.runs == expected.runs);
    check("evidence_kind", claimed.evidence_kind == expected.evidence_kind);
    check("outcome", claimed.outcome == expected.outcome);
    problems
}
