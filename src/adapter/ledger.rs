//! The adapter ledger (`adapter-ledger.jsonl`): one JSON line per request Case made, written
//! and flushed when that request completes (for a stream: when the stream ends).
//!
//! The ledger is the fallback proof of the report: which models were asked for, which name
//! was forwarded, what the upstream said it was, which host answered, and how many requests
//! were refused. A verifier recomputes [`LedgerTotals`] from the file with [`read_ledger`] and
//! [`summarize`], so the totals are a pure function of the lines — nothing the adapter knows
//! but did not write down can change them.
//!
//! A line never holds a header value or body content. The few request-derived strings it
//! does hold (path, model names, a short reason) are cut to [`MAX_RECORDED_CHARS`] and have
//! the per-run token and the upstream secret replaced by `[redacted]`, so even a Case that
//! puts its token in the `model` field cannot write it into the evidence through us.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::{Deserialize, Deserializer, Serialize};

use super::redact::{Redactor, SpreadSecretWatch, StreamRedactor};
use crate::output::{SamplingPin, SamplingRecord, UpstreamCause};
use crate::secrets::SecretValue;

/// The ledger's file name in a run folder.
pub const LEDGER_FILE_NAME: &str = crate::run_folder::LEDGER;

/// Longest request-derived string (path, model name, reason) the ledger keeps, in characters.
pub(crate) const MAX_RECORDED_CHARS: usize = 256;

pub use crate::output::Api;

/// How the adapter disposed of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Sent upstream; the upstream's answer (any status) was returned to Case as it was.
    Forwarded,
    /// Asked for another model or smuggled routing; refused and not forwarded.
    FallbackRefused,
    /// No or wrong per-run token; not forwarded.
    Unauthorized,
    /// A path the adapter does not serve; answered locally, not forwarded.
    NotFound,
    /// A served path with the wrong method; answered locally, not forwarded.
    MethodNotAllowed,
    /// The request itself was unusable (not JSON, too large, model not a string).
    BadRequest,
    /// Sent upstream, but no usable answer came back (timeout, connection error, a peer
    /// that is not loopback, a stream cut short).
    UpstreamError,
    /// Answered by the adapter itself on purpose: agent telemetry (never forwarded), or a
    /// `count_tokens` estimate (`upstream` is set when the upstream's tokenizer endpoints were
    /// asked first and had no count to give).
    AnsweredLocally,
    /// Case went away before the request completed.
    Cancelled,
    /// Sent upstream, and the upstream's answer contained one of the run's secrets (the
    /// upstream key it was sent, or Case's token): redacted before Case got it, and the run
    /// fails — an upstream that echoes credentials is not one to trust with a Stage 2.
    SecretEchoed,
}

/// One ledger line: one request Case made to the adapter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerEntry {
    /// When the request arrived (milliseconds since the Unix epoch).
    pub unix_ms: u64,
    /// The API the request spoke.
    pub api: Api,
    /// HTTP method: `GET`, `POST`, `PUT`, `DELETE`, `PATCH`, `HEAD`, `OPTIONS`, or `OTHER`.
    pub method: String,
    /// Request path, without the query string.
    pub path: String,
    /// The `model` Case asked for; null when the request named none.
    #[serde(deserialize_with = "required")]
    pub requested_model: Option<String>,
    /// The `model` sent upstream; null when nothing with a model was forwarded.
    #[serde(deserialize_with = "required")]
    pub forwarded_model: Option<String>,
    /// The `model` the upstream's answer named (recorded, never trusted: local servers echo
    /// whatever they are asked for).
    #[serde(deserialize_with = "required")]
    pub upstream_model: Option<String>,
    /// `host:port` the request was sent to; null when it was not forwarded.
    #[serde(deserialize_with = "required")]
    pub upstream: Option<String>,
    /// HTTP status returned to Case.
    pub status: u16,
    /// Request body bytes received from Case.
    pub bytes_in: u64,
    /// Response body bytes sent to Case.
    pub bytes_out: u64,
    /// Time from arrival to completion (for a stream: to its end).
    pub latency_ms: u64,
    /// How the request was disposed of.
    pub outcome: Outcome,
    /// Why, in a few words, when it was not a plain success; never a secret.
    #[serde(deserialize_with = "required")]
    pub reason: Option<String>,
    /// What the upstream's error answer meant, when it gave one the adapter understood.
    /// Written only when there is one, so that ledgers from before it still read back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_cause: Option<UpstreamCause>,
    /// The sampling pin on this request, when one was set and the request was a generation
    /// sent upstream: what Case asked for and what was sent. Absent in ledgers without a pin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampling: Option<SamplingRecord>,
}

/// An `Option` field that must be present (as a value or `null`): a line that omits it is
/// malformed, not silently defaulted.
fn required<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer)
}

pub use crate::output::LedgerTotals;

impl LedgerTotals {
    /// Adds one line to the totals.
    pub(crate) fn add(&mut self, entry: &LedgerEntry) {
        self.requests += 1;
        if let Some(host) = &entry.upstream {
            self.forwarded += 1;
            self.upstream_hosts.insert(host.clone());
        }
        if entry.outcome == Outcome::Forwarded && (200..300).contains(&entry.status) && entry.forwarded_model.is_some()
        {
            self.served_by_admitted_model += 1;
        }
        if entry.outcome == Outcome::FallbackRefused {
            self.fallback_attempts += 1;
        }
        if entry.outcome == Outcome::SecretEchoed {
            self.secret_echoes += 1;
        }
        if let Some(model) = &entry.requested_model {
            self.models_requested.insert(model.clone());
        }
        if let Some(model) = &entry.upstream_model {
            self.upstream_models_reported.insert(model.clone());
        }
        if let Some(cause) = entry.upstream_cause {
            self.upstream_errors.insert(cause);
        }
    }
}

/// The totals of a ledger: a pure function of its lines, in any order.
pub fn summarize<'a>(entries: impl IntoIterator<Item = &'a LedgerEntry>) -> LedgerTotals {
    let mut totals = LedgerTotals::default();
    for entry in entries {
        totals.add(entry);
    }
    totals
}

/// Why a ledger file could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The file could not be read.
    #[error("cannot read ledger {}: {source}", path.display())]
    Io {
        /// The ledger file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A line is not a ledger entry.
    #[error("ledger {} line {line}: {source}", path.display())]
    Line {
        /// The ledger file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What the parser said (its message, never the line's content).
        #[source]
        source: serde_json::Error,
    },
}

/// Reads a ledger file back, strictly: every line must be one complete [`LedgerEntry`]
/// (no unknown or missing fields, no duplicate keys, no blank lines).
pub fn read_ledger(path: &Path) -> Result<Vec<LedgerEntry>, LedgerError> {
    let text = std::fs::read_to_string(path).map_err(|source| LedgerError::Io {
        path: path.to_owned(),
        source,
    })?;
    text.lines()
        .enumerate()
        .map(|(index, line)| {
            serde_json::from_str::<LedgerEntry>(line).map_err(|source| LedgerError::Line {
                path: path.to_owned(),
                line: index + 1,
                source,
            })
        })
        .collect()
}

/// Cuts request-derived text to [`MAX_RECORDED_CHARS`] and blanks out the run's secrets.
///
/// One leftmost-longest, ASCII-case-insensitive automaton over every secret
/// ([`Redactor`]): a single pass over the text, and when one secret is a prefix of another
/// the longer one is replaced whole.
#[derive(Clone)]
pub(crate) struct Scrubber {
    redactor: Redactor,
}

impl std::fmt::Debug for Scrubber {
    // The automaton holds the secrets' bytes: never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scrubber").finish_non_exhaustive()
    }
}

impl Scrubber {
    /// A scrubber for `secrets` (empty ones are skipped).
    pub(crate) fn new(secrets: impl IntoIterator<Item = SecretValue>) -> Result<Self, aho_corasick::BuildError> {
        let secrets: Vec<SecretValue> = secrets.into_iter().collect();
        Ok(Scrubber {
            redactor: Redactor::new(&secrets)?,
        })
    }

    /// Replaces every occurrence of a secret (in any ASCII case) with `[redacted]`.
    pub(crate) fn redact(&self, text: &str) -> String {
        self.redactor.redact_text(text).0
    }

    /// [`Scrubber::redact`] — of the percent-decoded text too, so that `/v1/%63hc-token-…`
    /// cannot write the token into the evidence — then cut to [`MAX_RECORDED_CHARS`]: for
    /// ledger and trace fields, which quote request paths.
    pub(crate) fn clean(&self, text: &str) -> String {
        let decoded = percent_encoding::percent_decode_str(text).decode_utf8_lossy();
        let mut text = if decoded != text && self.redactor.redact_text(&decoded).1 {
            self.redact(&decoded)
        } else {
            self.redact(text)
        };
        if text.chars().count() > MAX_RECORDED_CHARS {
            text = text.chars().take(MAX_RECORDED_CHARS).collect::<String>() + "…";
        }
        // A cut can leave a secret's prefix behind, but never the whole secret: the
        // replacement above ran on the full text first.
        text
    }
}

/// The open ledger of one adapter: the file (if any) and the running totals.
///
/// The file is opened with `O_APPEND` and each line goes out in one `write(2)` without a lock:
/// the kernel puts every line whole at the end of the file, and concurrent requests never wait
/// on one another's write (holding a lock across the write made the two workers queue on a
/// futex once per request at concurrency 64; BENCHMARKS.md, "Fifth round"). The totals have
/// their own lock, taken after the line is out, so that once every request has finished they
/// count exactly the lines written.
pub(crate) struct Ledger {
    file: Option<(PathBuf, File)>,
    totals: Mutex<LedgerTotals>,
    scrubber: Scrubber,
}

impl Ledger {
    /// Creates (truncates) the ledger file, so that it exists even if no request ever comes.
    pub(crate) fn create(path: Option<&Path>, scrubber: Scrubber) -> std::io::Result<Ledger> {
        let file = match path {
            Some(path) => {
                // `append(true)` may not be combined with `truncate(true)`; the flag itself may.
                let file = OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .custom_flags(libc::O_APPEND)
                    .open(path)?;
                Some((path.to_owned(), file))
            }
            None => None,
        };
        Ok(Ledger {
            file,
            totals: Mutex::new(LedgerTotals::default()),
            scrubber,
        })
    }

    pub(crate) fn scrubber(&self) -> &Scrubber {
        &self.scrubber
    }

    /// Writes one line (one `write(2)`, appended whole, no buffer to lose), then counts it.
    fn record(&self, entry: &LedgerEntry) {
        if let Some((path, file)) = &self.file {
            let written = serde_json::to_vec(entry)
                .map_err(|err| std::io::Error::other(err.to_string()))
                .and_then(|mut line| {
                    line.push(b'\n');
                    (&*file).write_all(&line)
                });
            if let Err(err) = written {
                // The request has already been answered; all we can do is say so. The run's
                // verifier will then see totals the file does not support, and fail.
                eprintln!(
                    "case-harness adapter: warning: cannot write ledger {}: {err}",
                    path.display()
                );
            }
        }
        self.totals
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .add(entry);
    }

    pub(crate) fn totals(&self) -> LedgerTotals {
        self.totals
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}

/// The ledger line of one request in progress. It is written exactly once: by
/// [`RequestLog::finish`], or — if the request is dropped unfinished because Case went
/// away — by `Drop`, as [`Outcome::Cancelled`].
pub(crate) struct RequestLog {
    ledger: Arc<Ledger>,
    started: Instant,
    entry: LedgerEntry,
    written: bool,
    /// The upstream's answer held one of the run's secrets (see [`Outcome::SecretEchoed`]).
    upstream_echoed_secret: bool,
    /// The model text [`RequestLog::note_upstream_model`] judged last, as the upstream sent it.
    last_noted_upstream_model: Option<String>,
    /// The sampling pin the request went upstream with (see [`RequestLog::set_sampling`]).
    pin: Option<SamplingPin>,
}

/// The methods recorded as they are; any other is recorded as `OTHER`.
const KNOWN_METHODS: &[&str] = &["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"];

/// The `method` of a ledger line: a known method as it is, anything else `OTHER` — a method
/// is any token Case chooses, so it could carry the per-run token (or any secret) whole.
fn recorded_method(method: &str) -> &str {
    KNOWN_METHODS
        .iter()
        .find(|known| **known == method)
        .copied()
        .unwrap_or("OTHER")
}

/// Status recorded for a request Case abandoned before any answer (nginx's convention).
const CLIENT_CLOSED_REQUEST: u16 = 499;

impl RequestLog {
    pub(crate) fn new(ledger: Arc<Ledger>, api: Api, method: &str, path: &str) -> RequestLog {
        let path = ledger.scrubber.clean(path);
        RequestLog {
            ledger,
            started: Instant::now(),
            entry: LedgerEntry {
                unix_ms: crate::trace::unix_ms(),
                api,
                method: recorded_method(method).to_owned(),
                path,
                requested_model: None,
                forwarded_model: None,
                upstream_model: None,
                upstream: None,
                status: CLIENT_CLOSED_REQUEST,
                bytes_in: 0,
                bytes_out: 0,
                latency_ms: 0,
                outcome: Outcome::Cancelled,
                reason: Some("Case closed the connection first".to_owned()),
                upstream_cause: None,
                sampling: None,
            },
            written: false,
            upstream_echoed_secret: false,
            last_noted_upstream_model: None,
            pin: None,
        }
    }

    /// Redacts the run's secrets from text about to be sent back to Case: a Case that echoes
    /// its answers into its logs must not find its token there because of us.
    pub(crate) fn redact(&self, text: &str) -> String {
        self.ledger.scrubber.redact(text)
    }

    /// Upstream bytes on their way to Case, with the run's secrets redacted; finding one
    /// marks the line [`Outcome::SecretEchoed`].
    pub(crate) fn redact_upstream_bytes(&mut self, bytes: Vec<u8>) -> Vec<u8> {
        let redactor = &self.ledger.scrubber.redactor;
        // Nearly every answer holds no secret: it goes on as it is, not copied.
        if !redactor.finds(&bytes) {
            return bytes;
        }
        let (bytes, found) = redactor.redact_bytes(&bytes);
        self.upstream_echoed_secret |= found;
        bytes
    }

    /// A redactor for a stream of upstream bytes (see [`StreamRedactor`]); report what it
    /// found with [`RequestLog::note_upstream_echo`].
    pub(crate) fn stream_redactor(&self) -> StreamRedactor {
        StreamRedactor::new(self.ledger.scrubber.redactor.clone())
    }

    /// A watch for a secret spread over several streamed text pieces.
    pub(crate) fn spread_secret_watch(&self) -> SpreadSecretWatch {
        SpreadSecretWatch::new(self.ledger.scrubber.redactor.clone())
    }

    /// Marks that the upstream echoed one of the run's secrets.
    pub(crate) fn note_upstream_echo(&mut self, echoed: bool) {
        self.upstream_echoed_secret |= echoed;
    }

    pub(crate) fn set_bytes_in(&mut self, bytes: usize) {
        self.entry.bytes_in = bytes as u64;
    }

    pub(crate) fn set_requested_model(&mut self, model: Option<&str>) {
        self.entry.requested_model = model.map(|model| self.ledger.scrubber.clean(model));
    }

    /// Marks the request as sent upstream (with `model`, when it carries one).
    pub(crate) fn set_forwarded(&mut self, model: Option<&str>, upstream: &str) {
        self.entry.forwarded_model = model.map(|model| self.ledger.scrubber.clean(model));
        self.entry.upstream = Some(upstream.to_owned());
    }

    /// Records the first model name the upstream reported — or, over it, the first that
    /// names an external model, which must never be hidden behind an earlier local name.
    pub(crate) fn note_upstream_model(&mut self, model: &str) {
        // A stream names its model in every chunk, nearly always the same text; judging the
        // same text again cannot change the line (it was recorded, or kept out for a reason
        // that still holds), and the two name checks cost ~1.5 µs a chunk. Judged once.
        if self.last_noted_upstream_model.as_deref() == Some(model) {
            return;
        }
        self.last_noted_upstream_model = Some(model.to_owned());
        let recorded_is_external = self
            .entry
            .upstream_model
            .as_deref()
            .is_some_and(|recorded| crate::external_names::external_reference(recorded).is_some());
        if self.entry.upstream_model.is_none()
            || (!recorded_is_external && crate::external_names::external_reference(model).is_some())
        {
            self.entry.upstream_model = Some(self.ledger.scrubber.clean(model));
        }
    }

    /// The status already sent to Case (a stream's headers are out before its end).
    pub(crate) fn set_status(&mut self, status: u16) {
        self.entry.status = status;
    }

    /// Records what the upstream's error answer meant.
    pub(crate) fn set_upstream_cause(&mut self, cause: UpstreamCause) {
        self.entry.upstream_cause = Some(cause);
    }

    /// Records what Case asked for and what was sent of the pinned sampling fields.
    pub(crate) fn set_sampling(&mut self, pin: &SamplingPin, record: SamplingRecord) {
        self.entry.sampling = Some(record);
        self.pin = Some(pin.clone());
    }

    /// The pin this request was sent with, if any.
    pub(crate) fn pin(&self) -> Option<&SamplingPin> {
        self.pin.as_ref()
    }

    pub(crate) fn set_bytes_out(&mut self, bytes: u64) {
        self.entry.bytes_out = bytes;
    }

    /// Writes the line.
    pub(crate) fn finish(mut self, status: u16, bytes_out: u64, outcome: Outcome, reason: Option<&str>) {
        self.entry.status = status;
        self.entry.bytes_out = bytes_out;
        self.entry.outcome = outcome;
        self.entry.reason = reason.map(|reason| self.ledger.scrubber.clean(reason));
        self.write();
    }

    fn write(&mut self) {
        if self.written {
            return;
        }
        self.written = true;
        if self.upstream_echoed_secret {
            // Whatever else happened (a finished answer, Case gone mid-stream), this is the
            // fact the evidence must see.
            let echoed = "the upstream's answer contained one of the run's secrets; redacted before Case got it";
            let reason = match &self.entry.reason {
                Some(reason) => format!("{echoed} (then {:?}: {reason})", self.entry.outcome),
                None => echoed.to_owned(),
            };
            self.entry.outcome = Outcome::SecretEchoed;
            self.entry.reason = Some(self.ledger.scrubber.clean(&reason));
        }
        self.entry.latency_ms = self.started.elapsed().as_millis() as u64;
        self.ledger.record(&self.entry);
    }
}

impl Drop for RequestLog {
    fn drop(&mut self) {
        self.write();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_methods_are_recorded_as_they_are() {
        let ledger = Arc::new(Ledger::create(None, Scrubber::new([]).expect("scrubber")).expect("ledger"));
        for method in KNOWN_METHODS {
            assert_eq!(
                RequestLog::new(ledger.clone(), Api::Local, method, "/").entry.method,
                *method
            );
        }
        for method in ["CASE-TOKEN-CANARY", "get", "PROPFIND", "CONNECT"] {
            assert_eq!(
                RequestLog::new(ledger.clone(), Api::Local, method, "/").entry.method,
                "OTHER"
            );
        }
    }

    fn entry(outcome: Outcome, status: u16) -> LedgerEntry {
        LedgerEntry {
            unix_ms: 1,
            api: Api::OpenAi,
            method: "POST".to_owned(),
            path: "/v1/chat/completions".to_owned(),
            requested_model: Some("m".to_owned()),
            forwarded_model: Some("m".to_owned()),
            upstream_model: Some("echo".to_owned()),
            upstream: Some("127.0.0.1:1".to_owned()),
            status,
            bytes_in: 2,
            bytes_out: 3,
            latency_ms: 4,
            outcome,
            reason: None,
            upstream_cause: None,
            sampling: None,
        }
    }

    #[test]
    fn totals_count_only_what_the_lines_say() {
        let refused = LedgerEntry {
            requested_model: Some("claude-sonnet-4-6".to_owned()),
            forwarded_model: None,
            upstream_model: None,
            upstream: None,
            ..entry(Outcome::FallbackRefused, 403)
        };
        let listing = LedgerEntry {
            requested_model: None,
            forwarded_model: None,
            upstream_model: None,
            ..entry(Outcome::Forwarded, 200)
        };
        let too_long = UpstreamCause::ContextExceeded {
            request_tokens: Some(9000),
            context_tokens: Some(8192),
        };
        let refused_by_upstream = LedgerEntry {
            upstream_cause: Some(too_long),
            ..entry(Outcome::Forwarded, 400)
        };
        let entries = [
            entry(Outcome::Forwarded, 200),
            refused_by_upstream.clone(),
            refused_by_upstream,
            entry(Outcome::Forwarded, 429),
            entry(Outcome::UpstreamError, 200),
            refused,
            listing,
        ];
        let totals = summarize(&entries);
        assert_eq!(totals.requests, 7);
        assert_eq!(totals.forwarded, 6);
        assert_eq!(totals.upstream_errors.iter().collect::<Vec<_>>(), [&too_long]);
        assert_eq!(totals.served_by_admitted_model, 1);
        assert_eq!(totals.fallback_attempts, 1);
        assert_eq!(
            totals.models_requested.iter().collect::<Vec<_>>(),
            ["claude-sonnet-4-6", "m"]
        );
        assert_eq!(totals.upstream_models_reported.len(), 1);
        assert_eq!(totals.upstream_hosts.len(), 1);
        let mut reversed = entries.clone();
        reversed.reverse();
        assert_eq!(summarize(&reversed), totals);
    }

    #[test]
    fn lines_are_read_back_strictly() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ledger.jsonl");
        let good = serde_json::to_string(&entry(Outcome::Forwarded, 200)).expect("serialize");
        std::fs::write(&path, format!("{good}\n{good}\n")).expect("write");
        assert_eq!(read_ledger(&path).expect("read").len(), 2);

        let mut value: serde_json::Value = serde_json::from_str(&good).expect("json");
        let object = value.as_object_mut().expect("object");
        object.remove("upstream_model");
        let missing = value.to_string();
        let bad_cause = good.replacen(
            '{',
            r#"{"upstream_cause":{"kind":"context_exceeded","request_tokens":"many","context_tokens":1},"#,
            1,
        );
        assert_ne!(bad_cause, good);
        let unknown = good.replacen('{', r#"{"extra":1,"#, 1);
        let duplicate = good.replacen('{', r#"{"status":200,"#, 1);
        let bad_outcome = good.replace(r#""forwarded""#, r#""Forwarded""#);
        for (name, line) in [
            ("missing", missing.as_str()),
            ("unknown", unknown.as_str()),
            ("duplicate", duplicate.as_str()),
            ("outcome", bad_outcome.as_str()),
            ("cause", bad_cause.as_str()),
            ("blank", ""),
        ] {
            std::fs::write(&path, format!("{good}\n{line}\n")).expect("write");
            match read_ledger(&path) {
                Err(LedgerError::Line { line: 2, .. }) => {}
                other => panic!("{name}: expected a line-2 error, got {other:?}"),
            }
        }
    }

    #[test]
    fn scrubber_redacts_secrets_and_caps_length() {
        let scrubber = Scrubber::new([SecretValue::new("tok-123".to_owned())]).expect("scrubber");
        assert_eq!(scrubber.clean("a tok-123 b"), "a [redacted] b");
        let long = "x".repeat(MAX_RECORDED_CHARS + 10);
        assert_eq!(scrubber.clean(&long).chars().count(), MAX_RECORDED_CHARS + 1);
    }

    #[test]
    fn a_secret_that_extends_another_is_redacted_whole() {
        // The shorter secret first: replacing one after the other would leave "23" behind.
        let secrets = ["tok-1", "tok-123", ""].map(|value| SecretValue::new(value.to_owned()));
        let scrubber = Scrubber::new(secrets).expect("scrubber");
        assert_eq!(scrubber.redact("a tok-123 b tok-1 c"), "a [redacted] b [redacted] c");
        assert_eq!(Scrubber::new([]).expect("scrubber").redact("tok-1"), "tok-1");
        assert!(!format!("{scrubber:?}").contains("tok-1"));
    }

    #[test]
    fn lines_written_at_once_from_many_threads_land_whole() {
        // Without a lock around the write, each line must still be one whole line.
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ledger.jsonl");
        let ledger = Arc::new(Ledger::create(Some(&path), Scrubber::new([]).expect("scrubber")).expect("create"));
        let long_reason = "r".repeat(MAX_RECORDED_CHARS);
        std::thread::scope(|scope| {
            for thread in 0..8 {
                let (ledger, reason) = (ledger.clone(), &long_reason);
                scope.spawn(move || {
                    for request in 0..250 {
                        let path = format!("/v1/t{thread}/r{request}");
                        RequestLog::new(ledger.clone(), Api::OpenAi, "POST", &path).finish(
                            200,
                            1,
                            Outcome::Forwarded,
                            Some(reason),
                        );
                    }
                });
            }
        });
        let lines = read_ledger(&path).expect("every line reads back whole");
        assert_eq!(lines.len(), 8 * 250);
        assert_eq!(ledger.totals(), summarize(&lines));
    }

    #[test]
    fn a_dropped_request_is_still_written_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ledger.jsonl");
        let ledger = Arc::new(Ledger::create(Some(&path), Scrubber::new([]).expect("scrubber")).expect("create"));
        drop(RequestLog::new(
            ledger.clone(),
            Api::OpenAi,
            "POST",
            "/v1/chat/completions",
        ));
        RequestLog::new(ledger.clone(), Api::Local, "GET", "/x").finish(404, 9, Outcome::NotFound, Some("nope"));
        let lines = read_ledger(&path).expect("read");
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].outcome, Outcome::Cancelled);
        assert_eq!(lines[1].outcome, Outcome::NotFound);
        assert_eq!(ledger.totals(), summarize(&lines));
    }

    #[test]
    fn the_upstream_model_is_the_first_reported_unless_a_later_one_is_external() {
        let ledger = Arc::new(Ledger::create(None, Scrubber::new([]).expect("scrubber")).expect("create"));
        let recorded = |reports: &[&str]| {
            let mut log = RequestLog::new(ledger.clone(), Api::OpenAi, "POST", "/v1/chat/completions");
            for model in reports {
                log.note_upstream_model(model);
            }
            log.entry.upstream_model.clone()
        };
        let (local, other, external) = ("smollm2", "qwen2.5", "claude-sonnet-4-6");
        assert_eq!(recorded(&[local, local, other]).as_deref(), Some(local));
        // Repeated texts (a stream's chunks) do not change which one is recorded.
        for reports in [
            [local, local, external, external],
            [local, external, local, external],
            [external, external, local, local],
            [local, external, external, local],
        ] {
            assert_eq!(recorded(&reports).as_deref(), Some(external), "{reports:?}");
        }
        assert_eq!(recorded(&[]), None);
    }
}
