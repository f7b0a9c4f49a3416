//! The run trace (`trace.jsonl`): one JSON object per step, each with a monotonic sequence
//! number, wall-clock time and time since the run began.
//!
//! The trace is evidence: "blocked before `case_process_started`" means the trace has no
//! [`CASE_PROCESS_STARTED`] line, and the report's verifier reads it back. Each line is
//! written and flushed as it happens, so a run killed midway still leaves what it did.
//! Events never carry header values, bodies or secrets — only names, codes and counts.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

/// The run began (inputs are about to be read).
pub const RUN_STARTED: &str = "run_started";
/// Every gate was evaluated; fields list the blocked codes.
pub const GATES_EVALUATED: &str = "gates_evaluated";
/// One gate blocked; one event per blocking gate.
pub const GATE_BLOCKED: &str = "gate_blocked";
/// The adapter is listening.
pub const ADAPTER_STARTED: &str = "adapter_started";
/// What confines Case (`isolation`: the report's field), written before Case is spawned.
pub const CASE_ISOLATION: &str = "case_isolation";
/// Written immediately before Case is spawned — and only then.
pub const CASE_PROCESS_STARTED: &str = "case_process_started";
/// Case exited (or was killed).
pub const CASE_PROCESS_EXITED: &str = "case_process_exited";
/// Case was killed for exceeding `--timeout`.
pub const CASE_TIMED_OUT: &str = "case_timed_out";
/// The harness was interrupted (SIGINT/SIGTERM) while Case ran; the run stays `incomplete`.
pub const RUN_INTERRUPTED: &str = "run_interrupted";
/// A request asked for another model or smuggled routing; refused, not forwarded.
pub const FALLBACK_ATTEMPT: &str = "fallback_attempt";
/// The adapter stopped; fields carry its totals.
pub const ADAPTER_STOPPED: &str = "adapter_stopped";
/// The secret scan finished; fields carry hit counts per channel (never values).
pub const SECRET_SCAN: &str = "secret_scan";
/// The report was sealed; the last event of a finished run.
pub const EVIDENCE_SEALED: &str = "evidence_sealed";

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

    /// Appends one event. `fields` must be a JSON object (or null); it may not use the
    /// reserved keys `seq`, `event`, `unix_ms` and `elapsed_ms`.
    pub fn event(&self, event: &str, fields: Value) -> std::io::Result<()> {
        let Some(inner) = &self.inner else {
            return Ok(());
        };
        let mut trace = inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut line = Map::new();
        line.insert("seq".to_owned(), Value::from(trace.next_seq));
        line.insert("event".to_owned(), Value::from(event));
        line.insert("unix_ms".to_owned(), Value::from(unix_ms()));
        line.insert(
            "elapsed_ms".to_owned(),
            Value::from(trace.started.elapsed().as_millis() as u64),
        );
        if let Value::Object(fields) = fields {
            for (key, value) in fields {
                line.entry(key).or_insert(value);
            }
        }
        let mut text = Value::Object(line).to_string();
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

/// Reads a trace back as JSON objects (for verification and tests).
pub fn read(path: &Path) -> Result<Vec<Map<String, Value>>, String> {
    let text = crate::evidence::files::read_text(path, crate::evidence::files::MAX_LOG_FILE_BYTES)
        .map_err(|err| err.to_string())?;
    parse(path, &text)
}

/// Parses a trace's text (read by the caller, bounded) into its events.
pub fn parse(path: &Path, text: &str) -> Result<Vec<Map<String, Value>>, String> {
    text.lines()
        .enumerate()
        .map(|(index, line)| match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(map)) => Ok(map),
            _ => Err(format!("{} line {}: not a JSON object", path.display(), index + 1)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_numbered_in_order_and_reserved_keys_win() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("trace.jsonl");
        let trace = Trace::create(&path).expect("create");
        trace.event(RUN_STARTED, serde_json::json!({"seq": 99})).expect("write");
        trace.clone().event(CASE_PROCESS_STARTED, Value::Null).expect("write");
        let events = read(&path).expect("read back");
        assert_eq!(events.len(), 2);
        assert_eq!(events[0]["seq"], 1);
        assert_eq!(events[1]["seq"], 2);
        assert_eq!(events[1]["event"], CASE_PROCESS_STARTED);
        let on_disk = crate::records::sha256_hex(&std::fs::read(&path).expect("read"));
        assert_eq!(trace.written_digest(), Some(on_disk));
    }
}
