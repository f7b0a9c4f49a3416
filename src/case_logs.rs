//! Case's stdout and stderr: kept on disk up to a cap, scanned for secrets whole.
//!
//! A Case may print without end (issue 15: 1 GiB on stdout). Writing all of it into the run
//! folder costs disk and makes every later digest and scan read it again, so each log keeps
//! its first [`LOG_CAP`] bytes and then a marker line saying how many bytes were dropped.
//! Dropping must never hide a leak: every byte past the cap is streamed through the secret
//! scanner as Case writes it (with the last [`OVERLAP`] kept bytes in front, so a secret
//! straddling the cap is still found), and the hits join the `backend_logs` channel. The
//! kept part is scanned from disk with the rest of the run folder, as before.
//!
//! Case writes into a pipe that a thread drains; memory stays one chunk and the overlap.
//! Once Case has ended (confined: every process of its namespace is gone, so the pipe reaches
//! end-of-file), the thread reads what is left; a process that escaped Case's process group
//! (possible only unconfined) and still holds the pipe cannot stall the run: reading stops at
//! [`DRAIN_LIMIT`] or after [`DRAIN_SILENCE`] without a byte, and the marker says so.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::secrets::{SecretHit, SecretScanner};

/// How many bytes of each log the run folder keeps.
pub(crate) const LOG_CAP: u64 = 64 * 1024 * 1024;

/// How many kept bytes are scanned again in front of the dropped ones.
pub(crate) const OVERLAP: usize = 64 * 1024;

/// After Case has ended, how long the logs are still read at most.
pub(crate) const DRAIN_LIMIT: Duration = Duration::from_secs(10);

/// After Case has ended, how long a silent pipe is waited on before reading stops.
pub(crate) const DRAIN_SILENCE: Duration = Duration::from_secs(2);

const CHUNK: usize = 64 * 1024;

/// Why a log could not be captured.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CaseLogError {
    /// The pipe or the log file could not be made.
    #[error("cannot capture Case's output into {path}: {source}")]
    Setup {
        /// The log file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// What became of one log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CapturedLog {
    /// The log file.
    pub path: PathBuf,
    /// Every byte Case wrote to the stream.
    pub written: u64,
    /// How many of them the file keeps (before the marker).
    pub kept: u64,
    /// Secrets found in the bytes past the cap (the kept bytes are scanned from disk).
    pub hits: Vec<SecretHit>,
    /// Reading stopped while something still held the stream open (only unconfined).
    pub cut_short: bool,
    /// Failures that mean the log is not what Case wrote (a full disk, a broken pipe read);
    /// each fails the run.
    pub errors: Vec<String>,
}

impl CapturedLog {
    /// Bytes Case wrote that the file does not keep.
    pub(crate) fn dropped(&self) -> u64 {
        self.written - self.kept
    }

    /// The `scanned` line of the `backend_logs` channel for the bytes past the cap, if any.
    pub(crate) fn scanned_past_cap(&self) -> Option<String> {
        (self.dropped() > 0).then(|| {
            format!(
                "{}: {} bytes past the {}-byte cap, scanned as Case wrote them (not kept)",
                self.path.display(),
                self.dropped(),
                self.kept
            )
        })
    }
}

/// One capture in progress: Case writes into [`Capture::writer`], a thread keeps and scans.
struct Capture {
    path: PathBuf,
    writer: Option<File>,
    thread: std::thread::JoinHandle<CapturedLog>,
}

/// Case's stdout and stderr while Case runs.
pub(crate) struct CaseLogs {
    stdout: Capture,
    stderr: Capture,
    ended: Arc<AtomicBool>,
}

impl std::fmt::Debug for CaseLogs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaseLogs").finish_non_exhaustive()
    }
}

impl CaseLogs {
    /// Creates both log files and starts draining their pipes.
    pub(crate) fn start(stdout: &Path, stderr: &Path, scanner: Arc<SecretScanner>) -> Result<CaseLogs, CaseLogError> {
        let ended = Arc::new(AtomicBool::new(false));
        Ok(CaseLogs {
            stdout: start_capture(stdout, scanner.clone(), ended.clone(), LOG_CAP)?,
            stderr: start_capture(stderr, scanner, ended.clone(), LOG_CAP)?,
            ended,
        })
    }

    /// A write end of Case's stdout, for a child's `Stdio`.
    pub(crate) fn stdout(&self) -> std::io::Result<File> {
        clone_writer(&self.stdout)
    }

    /// A write end of Case's stderr, for a child's `Stdio`.
    pub(crate) fn stderr(&self) -> std::io::Result<File> {
        clone_writer(&self.stderr)
    }

    /// Call once Case has ended: closes the harness's own write ends, reads what is left and
    /// returns what became of (stdout, stderr).
    pub(crate) async fn finish(mut self) -> (CapturedLog, CapturedLog) {
        self.stdout.writer = None;
        self.stderr.writer = None;
        self.ended.store(true, Ordering::SeqCst);
        let join = |capture: Capture| async move {
            tokio::task::spawn_blocking(move || capture.thread.join())
                .await
                .ok()
                .and_then(Result::ok)
        };
        let (stdout_path, stderr_path) = (self.stdout.path.clone(), self.stderr.path.clone());
        let lost = |path: PathBuf| CapturedLog {
            errors: vec![format!("the capture of {} stopped unexpectedly", path.display())],
            path,
            written: 0,
            kept: 0,
            hits: Vec::new(),
            cut_short: true,
        };
        let stdout = join(self.stdout).await.unwrap_or_else(|| lost(stdout_path));
        let stderr = join(self.stderr).await.unwrap_or_else(|| lost(stderr_path));
        (stdout, stderr)
    }
}

fn clone_writer(capture: &Capture) -> std::io::Result<File> {
    match &capture.writer {
        Some(writer) => writer.try_clone(),
        None => Err(std::io::Error::other("Case's output capture is already finished")),
    }
}

fn start_capture(
    path: &Path,
    scanner: Arc<SecretScanner>,
    ended: Arc<AtomicBool>,
    cap: u64,
) -> Result<Capture, CaseLogError> {
    let setup = |source| CaseLogError::Setup {
        path: path.to_owned(),
        source,
    };
    let file = File::create(path).map_err(setup)?;
    let (reader, writer) = std::io::pipe().map_err(setup)?;
    let writer = File::from(std::os::fd::OwnedFd::from(writer));
    let thread_path = path.to_owned();
    let thread = std::thread::Builder::new()
        .name("case-log".to_owned())
        .spawn(move || capture(&thread_path, reader, file, cap, &scanner, &ended))
        .map_err(setup)?;
    Ok(Capture {
        path: path.to_owned(),
        writer: Some(writer),
        thread,
    })
}

/// Drains `pipe` into `file` up to `cap` and through `scanner` past it; ends with the marker.
fn capture(
    path: &Path,
    pipe: std::io::PipeReader,
    file: File,
    cap: u64,
    scanner: &SecretScanner,
    ended: &AtomicBool,
) -> CapturedLog {
    let mut tee = CappedTee {
        pipe,
        file,
        cap,
        ended,
        ended_at: None,
        last_byte: None,
        written: 0,
        kept: 0,
        tail: Vec::new(),
        past_cap: false,
        pending: Vec::new(),
        pending_at: 0,
        chunk: vec![0; CHUNK],
        cut_short: false,
        errors: Vec::new(),
    };
    let mut hits = Vec::new();
    let location = format!("{} (past the cap: scanned as Case wrote it, not kept)", path.display());
    if let Err(err) = scanner.scan_reader("backend_logs", &location, &mut tee, &mut hits) {
        tee.errors
            .push(format!("reading Case's output for {}: {err}", path.display()));
        // Keep draining so that Case is never blocked on a full pipe; nothing more is kept.
        tee.past_cap = true;
        while tee.fill().unwrap_or(0) > 0 {}
    }
    if tee.written > tee.kept || tee.cut_short {
        let mut marker = format!(
            "\n[case-harness] log capped: Case wrote {} bytes here; the {} bytes above are kept, \
             the other {} bytes were dropped (scanned for secrets as Case wrote them, not kept)",
            tee.written,
            tee.kept,
            tee.written - tee.kept
        );
        if tee.cut_short {
            marker.push_str(
                "; reading stopped after Case ended while a process outside its group still held this stream open",
            );
        }
        marker.push('\n');
        if let Err(err) = tee.file.write_all(marker.as_bytes()) {
            tee.errors
                .push(format!("cannot write the cap marker to {}: {err}", path.display()));
        }
    }
    CapturedLog {
        path: path.to_owned(),
        written: tee.written,
        kept: tee.kept,
        hits,
        cut_short: tee.cut_short,
        errors: tee.errors,
    }
}

/// A reader for the scanner that keeps the stream's first `cap` bytes in `file` and yields
/// only the bytes past the cap (the last [`OVERLAP`] kept bytes first).
struct CappedTee<'a> {
    pipe: std::io::PipeReader,
    file: File,
    cap: u64,
    ended: &'a AtomicBool,
    ended_at: Option<Instant>,
    last_byte: Option<Instant>,
    written: u64,
    kept: u64,
    /// The last kept bytes (at most 2 × OVERLAP, trimmed to OVERLAP when handed over).
    tail: Vec<u8>,
    past_cap: bool,
    /// Bytes for the scanner not yet handed over.
    pending: Vec<u8>,
    pending_at: usize,
    chunk: Vec<u8>,
    cut_short: bool,
    errors: Vec<String>,
}

impl CappedTee<'_> {
    /// Reads the next chunk of the pipe into `self.chunk`; 0 at the end (or when reading stops).
    fn fill(&mut self) -> std::io::Result<usize> {
        loop {
            if self.ended_at.is_none() && self.ended.load(Ordering::SeqCst) {
                self.ended_at = Some(Instant::now());
                self.last_byte = None;
            }
            if let Some(ended_at) = self.ended_at {
                let silent_since = self.last_byte.unwrap_or(ended_at);
                if ended_at.elapsed() >= DRAIN_LIMIT || silent_since.elapsed() >= DRAIN_SILENCE {
                    self.cut_short = true;
                    return Ok(0);
                }
            }
            let mut poll = libc::pollfd {
                fd: self.pipe.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd for the duration of the call.
            let ready = unsafe { libc::poll(&mut poll, 1, 100) };
            if ready < 0 {
                let err = std::io::Error::last_os_error();
                if err.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(err);
            }
            if ready == 0 {
                continue;
            }
            match self.pipe.read(&mut self.chunk) {
                Ok(0) => return Ok(0),
                Ok(read) => {
                    if self.ended_at.is_some() {
                        self.last_byte = Some(Instant::now());
                    }
                    self.written += read as u64;
                    return Ok(read);
                }
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
    }

    /// Keeps what fits under the cap; queues the rest (and, the first time, the tail) for the scanner.
    fn take(&mut self, read: usize) {
        let mut keep = if self.past_cap {
            0
        } else {
            (self.cap - self.kept).min(read as u64) as usize
        };
        if keep > 0 {
            match self.file.write_all(&self.chunk[..keep]) {
                Ok(()) => {
                    self.kept += keep as u64;
                    self.tail.extend_from_slice(&self.chunk[..keep]);
                    if self.tail.len() > 2 * OVERLAP {
                        self.tail.drain(..self.tail.len() - OVERLAP);
                    }
                }
                Err(err) => {
                    // Not kept, so scanned here; the run fails on the error.
                    self.errors
                        .push(format!("cannot write Case's output to its log: {err}"));
                    keep = 0;
                }
            }
        }
        if keep == read {
            return;
        }
        if !self.past_cap {
            self.past_cap = true;
            let from = self.tail.len().saturating_sub(OVERLAP);
            self.pending.extend_from_slice(&self.tail[from..]);
            self.tail = Vec::new();
        }
        self.pending.extend_from_slice(&self.chunk[keep..read]);
    }
}

impl Read for CappedTee<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            if self.pending_at < self.pending.len() {
                let count = buf.len().min(self.pending.len() - self.pending_at);
                buf[..count].copy_from_slice(&self.pending[self.pending_at..self.pending_at + count]);
                self.pending_at += count;
                return Ok(count);
            }
            self.pending.clear();
            self.pending_at = 0;
            let read = self.fill()?;
            if read == 0 {
                return Ok(0);
            }
            self.take(read);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::{NamedSecret, SecretValue};

    const TOKEN: &str = "chc-token-0123456789abcdef";

    fn scanner() -> Arc<SecretScanner> {
        Arc::new(
            SecretScanner::new(&[NamedSecret {
                name: "case_token".to_owned(),
                value: SecretValue::new(TOKEN.to_owned()),
            }])
            .expect("scanner"),
        )
    }

    /// Writes `parts` into a capture with a small cap, as Case would, and finishes it.
    fn captured(cap: u64, parts: &[&[u8]]) -> (CapturedLog, Vec<u8>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("case-stdout.log");
        let ended = Arc::new(AtomicBool::new(false));
        let mut capture = start_capture(&path, scanner(), ended.clone(), cap).expect("capture");
        let mut writer = capture.writer.take().expect("writer");
        for part in parts {
            writer.write_all(part).expect("write");
        }
        drop(writer);
        ended.store(true, Ordering::SeqCst);
        let log = capture.thread.join().expect("thread");
        let bytes = std::fs::read(&path).expect("log");
        (log, bytes)
    }

    #[test]
    fn output_under_the_cap_is_kept_whole_without_a_marker() {
        let (log, bytes) = captured(1024, &[b"hello\n", b"world\n"]);
        assert_eq!(bytes, b"hello\nworld\n");
        assert_eq!((log.written, log.kept, log.dropped()), (12, 12, 0));
        assert!(log.hits.is_empty() && log.errors.is_empty() && !log.cut_short);
        assert_eq!(log.scanned_past_cap(), None);
    }

    #[test]
    fn output_past_the_cap_is_cut_with_a_marker_that_counts_the_dropped_bytes() {
        let big = vec![b'x'; 10_000];
        let (log, bytes) = captured(4096, &[&big, b"tail\n"]);
        assert_eq!((log.written, log.kept, log.dropped()), (10_005, 4096, 5909));
        let text = String::from_utf8(bytes).expect("utf-8");
        let (kept, marker) = text.split_at(4096);
        assert!(kept.bytes().all(|byte| byte == b'x'));
        assert_eq!(
            marker,
            "\n[case-harness] log capped: Case wrote 10005 bytes here; the 4096 bytes above are kept, \
             the other 5909 bytes were dropped (scanned for secrets as Case wrote them, not kept)\n"
        );
        assert!(log.hits.is_empty(), "{:?}", log.hits);
    }

    #[test]
    fn a_secret_written_after_the_cap_is_found_though_not_kept() {
        let big = vec![b'x'; 100_000];
        let (log, bytes) = captured(4096, &[&big, TOKEN.as_bytes(), b"\n"]);
        assert!(!bytes.windows(TOKEN.len()).any(|window| window == TOKEN.as_bytes()));
        assert_eq!(log.hits.len(), 1, "{:?}", log.hits);
        assert_eq!(log.hits[0].channel, "backend_logs");
        assert_eq!(log.hits[0].secret, "case_token");
    }

    #[test]
    fn a_secret_straddling_the_cap_is_found() {
        let mut bytes = vec![b'x'; 4096 - 10];
        bytes.extend_from_slice(TOKEN.as_bytes());
        let (log, kept) = captured(4096, &[&bytes]);
        assert_eq!(log.kept, 4096);
        assert!(!kept.windows(TOKEN.len()).any(|window| window == TOKEN.as_bytes()));
        assert_eq!(log.hits.len(), 1, "{:?}", log.hits);
    }

    #[test]
    fn a_log_that_cannot_be_written_is_an_error_and_what_was_not_kept_is_still_scanned() {
        let ended = Arc::new(AtomicBool::new(false));
        // /dev/full: every write fails with ENOSPC, as on a full disk.
        let mut capture = start_capture(Path::new("/dev/full"), scanner(), ended.clone(), 1024).expect("capture");
        let mut writer = capture.writer.take().expect("writer");
        writer.write_all(TOKEN.as_bytes()).expect("write");
        drop(writer);
        ended.store(true, Ordering::SeqCst);
        let log = capture.thread.join().expect("thread");
        assert_eq!(log.kept, 0);
        assert_eq!(log.hits.len(), 1, "{:?}", log.hits);
        assert!(
            log.errors
                .iter()
                .any(|error| error.contains("cannot write Case's output")),
            "{:?}",
            log.errors
        );
    }

    #[test]
    fn a_writer_that_outlives_case_cannot_stall_the_capture() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("case-stdout.log");
        let ended = Arc::new(AtomicBool::new(false));
        let mut capture = start_capture(&path, scanner(), ended.clone(), 1024).expect("capture");
        // An escaped process keeps the stream open and silent.
        let escaped = capture.writer.take().expect("writer");
        (&escaped).write_all(b"before\n").expect("write");
        ended.store(true, Ordering::SeqCst);
        let log = capture.thread.join().expect("thread");
        assert!(log.cut_short);
        let text = std::fs::read_to_string(&path).expect("log");
        assert!(text.starts_with("before\n"), "{text}");
        assert!(text.contains("still held this stream open"), "{text}");
        drop(escaped);
    }
}
