//! The run trace (`trace.jsonl`): one JSON object per step, each with a monotonic sequence
//! number, wall-clock time and time since the run began.
//!
//! The trace is evidence: "blocked before `case_process_started`" means the trace has no
//! [`TraceEvent::CaseProcessStarted`] line, and `verify` reads every line back as a typed
//! [`TraceEvent`] (see `trace/event.rs`). Each line is written and flushed as it happens, so a
//! run killed midway still leaves what it did. Events never carry header values, bodies or
//! secrets — only names, codes and counts.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

mod event;

pub use event::TraceEvent;

/// The envelope keys every line carries besides its event.
const ENVELOPE_KEYS: [&str; 3] = ["seq", "unix_ms", "elapsed_ms"];

/// One line of the trace: the envelope and its event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceLine {
    /// 1, 2, 3, … in the order written.
    pub seq: u64,
    /// Wall-clock time, milliseconds since the Unix epoch.
    pub unix_ms: u64,
    /// Milliseconds since the trace was created.
    pub elapsed_ms: u64,
    /// What happened.
    pub event: TraceEvent,
}

/// Why a trace's text is not a trace the harness wrote.
#[derive(Debug, thiserror::Error)]
#[error("{} line {line}: not a trace event the harness writes: {source}", path.display())]
pub struct TraceParseError {
    /// The trace file.
    pub path: PathBuf,
    /// The line (from 1).
    pub line: usize,
    /// What is wrong with it.
    #[source]
    pub source: serde_json::Error,
}

/// A cloneable handle to one trace file (or to nothing, for a standalone adapter).
#[derive(Clone)]
pub struct Trace {
    inner: Option<Arc<Mutex<TraceFile>>>,
}

struct TraceFile {
    file: File,
    next_seq: u64,
    started: Instant,
    /// sha256 of every byte this handle wrote: if the file on disk differs, someone else
    /// (Case runs as the same user) changed it.
    written: sha2::Sha256,
}

impl std::fmt::Debug for Trace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trace").field("enabled", &self.inner.is_some()).finish()
    }
}

impl Trace {
    /// Creates (truncates) the trace file.
    pub fn create(path: &Path) -> std::io::Result<Trace> {
        let file = File::create(path)?;
        Ok(Trace {
            inner: Some(Arc::new(Mutex::new(TraceFile {
                file,
                next_seq: 1,
                started: Instant::now(),
                written: sha2::Sha256::default(),
            }))),
        })
    }

    /// A trace that records nothing.
    pub fn disabled() -> Trace {
        Trace { inner: None }
    }

    /// Appends one event, with the next sequence number and the time.
    pub fn record(&self, event: &TraceEvent) -> std::io::Result<()> {
        let Some(inner) = &self.inner else {
            return Ok(());
        };
        let mut trace = inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let line = TraceLine {
            seq: trace.next_seq,
            unix_ms: unix_ms(),
            elapsed_ms: trace.started.elapsed().as_millis() as u64,
            event: event.clone(),
        };
        let mut text = line.to_json().map_err(std::io::Error::other)?;
        text.push('\n');
        trace.file.write_all(text.as_bytes())?;
        trace.file.flush()?;
        sha2::Digest::update(&mut trace.written, text.as_bytes());
        trace.next_seq += 1;
        Ok(())
    }

    /// sha256 (hex) of everything this trace wrote, or `None` for a disabled trace.
    pub fn written_digest(&self) -> Option<String> {
        let inner = self.inner.as_ref()?;
        let trace = inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        Some(hex::encode(sha2::Digest::finalize(trace.written.clone())))
    }
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64)
}

impl TraceLine {
    /// The line as written: one JSON object, keys sorted, the envelope beside the event's
    /// fields (the form every trace has had on disk).
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        let Value::Object(mut object) = serde_json::to_value(&self.event)? else {
            return Err(invalid("a trace event is not a JSON object"));
        };
        for (key, value) in ENVELOPE_KEYS.into_iter().zip([self.seq, self.unix_ms, self.elapsed_ms]) {
            if object.insert(key.to_owned(), Value::from(value)).is_some() {
                return Err(invalid(format_args!("event field `{key}` shadows the envelope")));
            }
        }
        Ok(Value::Object(object).to_string())
    }

    /// Parses one line: a JSON object with the three envelope numbers and exactly the fields
    /// of one known event.
    pub fn from_json(line: &str) -> Result<TraceLine, serde_json::Error> {
        let mut object: Map<String, Value> = serde_json::from_str(line)?;
        Ok(TraceLine {
            seq: take_number(&mut object, "seq")?,
            unix_ms: take_number(&mut object, "unix_ms")?,
            elapsed_ms: take_number(&mut object, "elapsed_ms")?,
            event: serde_json::from_value(Value::Object(object))?,
        })
    }
}

/// Removes an envelope number from a line's object: present and a `u64`, or an error.
fn take_number(object: &mut Map<String, Value>, key: &'static str) -> Result<u64, serde_json::Error> {
    let value = object
        .remove(key)
        .ok_or_else(|| invalid(format_args!("missing field `{key}`")))?;
    serde_json::from_value(value).map_err(|err| invalid(format_args!("field `{key}`: {err}")))
}

fn invalid(message: impl std::fmt::Display) -> serde_json::Error {
    <serde_json::Error as serde::de::Error>::custom(message)
}

/// Parses a trace's text (read by the caller, bounded: see `evidence::files`) into its lines.
/// The first line that is not exactly an event the harness writes fails the whole trace.
pub fn parse(path: &Path, text: &str) -> Result<Vec<TraceLine>, TraceParseError> {
    text.lines()
        .enumerate()
        .map(|(index, line)| {
            TraceLine::from_json(line).map_err(|source| TraceParseError {
                path: path.to_owned(),
                line: index + 1,
                source,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn started(program: &str) -> TraceEvent {
        TraceEvent::CaseProcessStarted {
            program: program.to_owned(),
            argc: 1,
        }
    }

    #[test]
    fn events_are_numbered_in_order_and_read_back_typed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("trace.jsonl");
        let trace = Trace::create(&path).expect("create");
        let first = TraceEvent::RunStarted {
            evidence_kind: crate::output::EvidenceKind::Simulated,
        };
        trace.record(&first).expect("write");
        trace.clone().record(&started("case")).expect("write");
        let text = std::fs::read_to_string(&path).expect("read");
        let lines = parse(&path, &text).expect("read back");
        assert_eq!(lines.iter().map(|line| line.seq).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(lines[0].event, first);
        assert_eq!(lines[1].event, started("case"));
        let on_disk = crate::records::sha256_hex(text.as_bytes());
        assert_eq!(trace.written_digest(), Some(on_disk));
    }

    #[test]
    fn lines_keep_the_bytes_traces_have_always_had() {
        // Written by the untyped writer before events were typed (keys sorted, envelope mixed in).
        let lines = [
            r#"{"elapsed_ms":0,"event":"run_started","evidence_kind":"real_stage2","seq":1,"unix_ms":1796068492204}"#,
            r#"{"argc":4,"elapsed_ms":156,"event":"case_process_started","program":"python3","seq":5,"unix_ms":1796068492360}"#,
            r#"{"duration_ms":877,"elapsed_ms":1034,"event":"case_process_exited","exit_code":0,"seq":6,"signal":null,"timed_out":false,"unix_ms":1796068493238}"#,
            r#"{"elapsed_ms":1034,"event":"adapter_stopped","listen":"127.0.0.1:47100","seq":7,"totals":{"fallback_attempts":0,"forwarded":1,"models_requested":["m"],"requests":1,"secret_echoes":0,"served_by_admitted_model":1,"upstream_hosts":["127.0.0.1:8090"],"upstream_models_reported":["m"]},"unix_ms":1796068493238}"#,
            r#"{"elapsed_ms":156,"event":"case_isolation","isolation":{"filesystem":"read_only_run_folder","how":"kernel namespaces (rustix): mount, network, PID","network":"namespace","pid":"namespace","uid":0},"seq":4,"unix_ms":1796068492360}"#,
        ];
        for line in lines {
            let typed = TraceLine::from_json(line).expect(line);
            assert_eq!(typed.to_json().expect("write"), line);
        }
    }

    #[test]
    fn a_line_without_its_envelope_or_with_a_retyped_one_is_refused() {
        let good = r#"{"elapsed_ms":0,"event":"gate_blocked","code":"decision_record_missing","seq":1,"unix_ms":1}"#;
        assert!(TraceLine::from_json(good).is_ok());
        for forged in [
            r#"{"elapsed_ms":0,"event":"gate_blocked","code":"decision_record_missing","unix_ms":1}"#,
            r#"{"elapsed_ms":0,"event":"gate_blocked","code":"decision_record_missing","seq":"1","unix_ms":1}"#,
            r#"{"elapsed_ms":0,"event":"gate_blocked","code":"no_such_gate","seq":1,"unix_ms":1}"#,
            r#"[1]"#,
        ] {
            assert!(TraceLine::from_json(forged).is_err(), "{forged}");
        }
    }

    #[test]
    fn parse_names_the_file_and_the_line() {
        let text = "{\"elapsed_ms\":0,\"event\":\"evidence_sealed\",\"report\":\"report.json\",\"seq\":1,\"unix_ms\":1}\n{\"event\":\"case_passed\"}\n";
        let err = parse(Path::new("trace.jsonl"), text).expect_err("forged second line");
        assert_eq!(err.line, 2);
        assert!(err.to_string().starts_with("trace.jsonl line 2: "), "{err}");
    }

    #[test]
    fn no_event_field_shadows_the_envelope() {
        for event in event::tests::one_of_each() {
            let line = TraceLine {
                seq: 1,
                unix_ms: 2,
                elapsed_ms: 3,
                event,
            };
            let text = line.to_json().expect("no field named like the envelope");
            assert_eq!(TraceLine::from_json(&text).expect("read back"), line);
        }
    }
}
