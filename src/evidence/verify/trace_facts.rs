//! The report against the trace: evidence kind, gates, Case start and end, isolation,
//! secret-scan hits, the adapter's mode, pin and totals. Each fact is taken from the first
//! event of its kind; one function per fact.

use std::path::Path;

use super::TraceFinding;
use crate::output::{AdapterMode, EvidenceKind, Isolation, Report};
use crate::trace::{TraceEvent, TraceLine};

/// Every fact of the report that the trace also records, compared.
pub(super) fn check_against_trace(report: &Report, lines: &[TraceLine], run_dir: &Path) -> Vec<TraceFinding> {
    let events: Vec<&TraceEvent> = lines.iter().map(|line| &line.event).collect();
    [
        check_sequence(lines),
        check_evidence_kind(report, &events),
        check_gates(report, &events),
        check_case_started(report, &events),
        check_isolation(report, &events),
        check_case_ended(report, &events),
    ]
    .into_iter()
    .flatten()
    .chain(check_secret_hits(report, &events))
    .chain(
        [
            check_adapter_mode(report, &events),
            check_sampling(report, &events),
            check_adapter_totals(report, &events, run_dir),
        ]
        .into_iter()
        .flatten(),
    )
    .collect()
}

/// The first event `pick` recognises.
fn first<'a, T>(events: &[&'a TraceEvent], pick: impl FnMut(&'a TraceEvent) -> Option<T>) -> Option<T> {
    events.iter().copied().find_map(pick)
}

fn check_sequence(lines: &[TraceLine]) -> Option<TraceFinding> {
    let sequence_ok = lines
        .iter()
        .enumerate()
        .all(|(index, line)| line.seq == index as u64 + 1);
    (!sequence_ok).then_some(TraceFinding::Sequence)
}

/// The kind of evidence is fixed when the run starts; a report that claims another is forged.
fn check_evidence_kind(report: &Report, events: &[&TraceEvent]) -> Option<TraceFinding> {
    let traced = first(events, |event| match event {
        TraceEvent::RunStarted { evidence_kind } => Some(*evidence_kind),
        _ => None,
    });
    (traced != Some(report.evidence_kind)).then(|| TraceFinding::EvidenceKind {
        claimed: report.evidence_kind.as_str(),
        traced: traced.map(EvidenceKind::as_str),
    })
}

fn check_gates(report: &Report, events: &[&TraceEvent]) -> Option<TraceFinding> {
    let traced = first(events, |event| match event {
        TraceEvent::GatesEvaluated { gates, .. } => Some(gates),
        _ => None,
    });
    (traced != Some(&report.gates)).then_some(TraceFinding::Gates)
}

fn check_case_started(report: &Report, events: &[&TraceEvent]) -> Option<TraceFinding> {
    let started = events
        .iter()
        .any(|event| matches!(event, TraceEvent::CaseProcessStarted { .. }));
    (started != report.case_process_started).then_some(TraceFinding::CaseStarted {
        claimed: report.case_process_started,
        traced: started,
    })
}

/// What confined Case is traced before Case starts; a report that claims more is forged.
fn check_isolation(report: &Report, events: &[&TraceEvent]) -> Option<TraceFinding> {
    let traced = first(events, |event| match event {
        TraceEvent::CaseIsolation { isolation } => Some(isolation),
        _ => None,
    });
    if traced == report.isolation.as_ref() {
        return None;
    }
    let shown = |isolation: Option<&Isolation>, none: &str| {
        isolation
            .and_then(|isolation| serde_json::to_string(isolation).ok())
            .unwrap_or_else(|| none.to_owned())
    };
    Some(TraceFinding::Isolation {
        claimed: shown(report.isolation.as_ref(), "absent"),
        traced: shown(traced, "nothing"),
    })
}

fn check_case_ended(report: &Report, events: &[&TraceEvent]) -> Option<TraceFinding> {
    let case = report.case.as_ref()?;
    let traced = first(events, |event| match event {
        TraceEvent::CaseProcessExited(exit) => Some(exit),
        _ => None,
    })
    .map(|exit| (exit.exit_code, exit.signal, exit.timed_out));
    let claimed = (case.exit_code, case.signal, case.timed_out);
    if traced == Some(claimed) {
        return None;
    }
    Some(TraceFinding::CaseEnded {
        claimed: ended(claimed),
        traced: traced.map_or_else(|| "nothing (no case_process_exited)".to_owned(), ended),
    })
}

/// How Case ended, in words, never as Rust's `Some(3)`.
fn ended((code, signal, timed_out): (Option<i32>, Option<i32>, bool)) -> String {
    let mut words = match (code, signal) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(signal)) => format!("signal {signal}"),
        (None, None) => "no exit code".to_owned(),
    };
    if timed_out {
        words.push_str(", timed out");
    }
    words
}

fn check_secret_hits(report: &Report, events: &[&TraceEvent]) -> Vec<TraceFinding> {
    let traced_hits = first(events, |event| match event {
        TraceEvent::SecretScan { hits } => Some(hits),
        _ => None,
    });
    let Some(scan) = traced_hits else {
        return if report.secret_scan.channels.is_empty() {
            Vec::new()
        } else {
            vec![TraceFinding::NoSecretScan]
        };
    };
    report
        .secret_scan
        .channels
        .iter()
        .filter(|channel| channel.channel != "report")
        .filter_map(|channel| {
            let traced = scan.get(&channel.channel).copied();
            (traced != Some(channel.hits.len())).then(|| TraceFinding::SecretHits {
                channel: channel.channel.clone(),
                claimed: channel.hits.len(),
                traced,
            })
        })
        .collect()
}

fn check_adapter_mode(report: &Report, events: &[&TraceEvent]) -> Option<TraceFinding> {
    let traced = first(events, |event| match event {
        TraceEvent::AdapterStarted { adapter_mode, .. } => Some(*adapter_mode),
        _ => None,
    });
    (traced != report.adapter_mode).then(|| TraceFinding::AdapterMode {
        claimed: report.adapter_mode.map(AdapterMode::as_str),
        traced: traced.map(AdapterMode::as_str),
    })
}

fn check_sampling(report: &Report, events: &[&TraceEvent]) -> Option<TraceFinding> {
    let traced = first(events, |event| match event {
        TraceEvent::AdapterStarted { sampling, .. } => Some(sampling.clone()),
        _ => None,
    });
    traced
        .is_some_and(|traced| traced != report.sampling)
        .then_some(TraceFinding::Sampling)
}

fn check_adapter_totals(report: &Report, events: &[&TraceEvent], run_dir: &Path) -> Option<TraceFinding> {
    if !report.case_process_started {
        return None;
    }
    let traced = first(events, |event| match event {
        TraceEvent::AdapterStopped { totals, .. } => Some(totals),
        _ => None,
    });
    let ledger = super::read_ledger_bounded(run_dir)
        .ok()
        .map(|entries| crate::adapter::summarize(&entries));
    (traced.is_none() || traced != ledger.as_ref()).then_some(TraceFinding::AdapterTotals)
}
