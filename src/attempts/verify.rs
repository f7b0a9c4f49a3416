//! `verify OUT/aggregate.json [--key]`: the aggregate holds only if every attempt it lists is
//! there and verifies, no attempt folder is left out, each attempt's digest and outcome are
//! the ones listed, and every number is what the attempts give. With a key, the folder's
//! envelope must cover every file, and every attempt's own envelope must verify too.

use std::path::Path;

use super::finding::AggregateFinding;
use super::{AttemptPlan, aggregate_of, folder_name, predicate, seal_digest, stats};
use crate::guarded_files as files;
use crate::output::{AggregateReport, Report};
use crate::signing::EvidenceKey;

/// Largest aggregate read.
const MAX_AGGREGATE_BYTES: u64 = 4 * 1024 * 1024;

/// Every problem with the aggregate at `path` (empty: it holds), and the aggregate itself
/// when it could be read.
pub(crate) fn verify_aggregate(
    path: &Path,
    key: Option<&EvidenceKey>,
) -> Result<AggregateReport, Vec<AggregateFinding>> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let bytes = files::read_bounded(path, MAX_AGGREGATE_BYTES).map_err(|err| vec![err.into()])?;
    let aggregate: AggregateReport = serde_json::from_slice(&bytes).map_err(|source| {
        vec![AggregateFinding::NotAnAggregate {
            path: path.to_owned(),
            source,
        }]
    })?;
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
fn check_envelope(aggregate: &AggregateReport, dir: &Path, key: &EvidenceKey) -> Vec<AggregateFinding> {
    let opened = match crate::attestation::open(&dir.join(crate::attestation::ENVELOPE), key) {
        Err(problem) => return vec![problem.into()],
        Ok(opened) => opened,
    };
    let mut problems: Vec<AggregateFinding> = crate::attestation::check_subjects(dir, &opened.subjects)
        .into_iter()
        .map(AggregateFinding::from)
        .collect();
    match predicate(aggregate) {
        Ok(expected) if opened.statement.get("predicate") == Some(&expected) => {}
        Ok(_) => problems.push(AggregateFinding::PredicateDiffers),
        Err(err) => problems.push(AggregateFinding::Predicate(err)),
    }
    problems
}

/// The aggregate's own seal.
fn check_seal(aggregate: &AggregateReport) -> Option<AggregateFinding> {
    match (&aggregate.seal, seal_digest(aggregate)) {
        (Some(seal), Ok(digest)) if seal.digest == digest && seal.algorithm == crate::evidence::SEAL_ALGORITHM => None,
        (None, _) => Some(AggregateFinding::NotSealed),
        (Some(_), Ok(_)) => Some(AggregateFinding::SealMismatch),
        (Some(_), Err(err)) => Some(AggregateFinding::SealDigest(err)),
    }
}

/// The attempt folders listed are `attempt-1` … `attempt-N`, and no other is on disk.
fn check_folders(aggregate: &AggregateReport, dir: &Path, listed: &[String]) -> Vec<AggregateFinding> {
    let mut problems = Vec::new();
    let runs: Vec<String> = aggregate.runs.iter().map(|run| run.folder.clone()).collect();
    if runs != listed {
        problems.push(AggregateFinding::AttemptsMisListed {
            runs,
            attempts: aggregate.attempts,
            listed: listed.to_vec(),
        });
    }
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with("attempt-") && !listed.contains(&name) {
                problems.push(AggregateFinding::UnlistedFolder { folder: name });
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
    problems: &mut Vec<AggregateFinding>,
) -> Vec<Report> {
    let mut reports = Vec::new();
    for (run, folder) in aggregate.runs.iter().zip(listed) {
        let report_path = dir.join(folder).join(crate::run_folder::REPORT);
        if let Some(key) = key
            && let Err(found) = crate::attestation::verify_run(&report_path, key)
        {
            problems.extend(found.into_iter().map(|finding| AggregateFinding::AttemptSignature {
                folder: folder.clone(),
                finding,
            }));
        }
        match crate::evidence::verify(&report_path) {
            Err(found) => {
                problems.extend(found.into_iter().map(|finding| AggregateFinding::AttemptReport {
                    folder: folder.clone(),
                    finding,
                }));
                continue;
            }
            Ok(verified) if verified.digest != run.report_digest => problems.push(AggregateFinding::AttemptDigest {
                folder: folder.clone(),
                found: verified.digest,
                listed: run.report_digest.clone(),
            }),
            Ok(_) => {}
        }
        match read_report(&report_path, folder) {
            Ok(report) => reports.push(report),
            Err(finding) => problems.push(finding),
        }
    }
    reports
}

/// An attempt's report, read back for its numbers.
fn read_report(report_path: &Path, folder: &str) -> Result<Report, AggregateFinding> {
    let bytes = files::read_bounded(report_path, MAX_AGGREGATE_BYTES).map_err(|source| {
        AggregateFinding::AttemptUnreadable {
            folder: folder.to_owned(),
            source,
        }
    })?;
    serde_json::from_slice(&bytes).map_err(|source| AggregateFinding::AttemptNotAReport {
        folder: folder.to_owned(),
        source,
    })
}

/// Every number is what the attempts give, and every attempt ran with the aggregate's pin.
fn check_numbers(aggregate: &AggregateReport, reports: &[Report], listed: &[String]) -> Vec<AggregateFinding> {
    let mut problems = Vec::new();
    match AttemptPlan::new(aggregate.attempts, Some(aggregate.required), aggregate.parallel.max(1)) {
        Err(problem) => problems.push(AggregateFinding::Plan(problem)),
        Ok(plan) => {
            let expected = aggregate_of(reports, plan, aggregate.sampling.clone());
            problems.extend(differences(aggregate, &expected));
        }
    }
    for (report, folder) in reports.iter().zip(listed) {
        if report.sampling != aggregate.sampling {
            problems.push(AggregateFinding::SamplingDiffers { folder: folder.clone() });
        }
    }
    problems
}

/// Every number or word of `claimed` that is not what the attempts give.
fn differences(claimed: &AggregateReport, expected: &AggregateReport) -> Vec<AggregateFinding> {
    let mut problems = Vec::new();
    let mut check = |field: &'static str, same: bool| {
        if !same {
            problems.push(AggregateFinding::DoesNotFollow { field });
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
