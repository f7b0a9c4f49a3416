//! The scanner: every accidental encoding of a set of secrets searched for in one pass, over
//! bytes, files, folders (streamed) and git history.

use std::fmt;
use std::path::{Path, PathBuf};

use super::normalise::{Normaliser, normalise};
use super::value::NamedSecret;
use super::{base32, search};
use crate::output::SecretHit;

/// Searches bytes for every form of a set of secrets in one pass.
///
/// The forms an *accidental* leak takes are covered: the value as written, in any letter
/// case; base64 (standard and URL-safe alphabets) at each of the three byte alignments, so it
/// is found inside a longer encoded string such as `Basic base64("user:" + token)`; base32
/// (RFC 4648, either case, padded or not) at each of its five byte alignments; hex in either
/// case; UTF-16 (little- and big-endian); and, because the input is normalised before matching
/// (see [`normalise`]), percent-encoding (full or partial, applied once or more), JSON `\u`
/// escapes, numeric HTML entities (decimal and hex), and the value split across lines or by
/// spaces. Deliberate concealment (encryption, a custom encoding) is out of scope: Case
/// only ever holds the per-run token, which is worthless after the run.
/// Secrets shorter than [`MIN_SECRET_LEN`] are refused: they would match by accident.
pub(crate) struct SecretScanner {
    patterns: search::Patterns,
    names: Vec<String>,
}

/// The encoded forms of `raw` searched for in normalised input (each also normalised, so a
/// value containing `%41` or whitespace is still found as itself).
///
/// Encodings that map the secret to a fixed string are searched for as that string (one more
/// pattern each, no cost per input byte); only escapes, whose spelling varies character by
/// character, are left to the normaliser.
fn encoded_forms(raw: &[u8]) -> Vec<Vec<u8>> {
    use base64::Engine;
    let mut forms = vec![raw.to_vec(), hex::encode(raw).into_bytes()];
    for engine in [
        &base64::engine::general_purpose::STANDARD_NO_PAD,
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ] {
        forms.extend(aligned_forms(raw, 3, 6, |shifted| engine.encode(shifted).into_bytes()));
    }
    forms.extend(aligned_forms(raw, 5, 5, base32::encode));
    // UTF-16 of the text (a secret that is not UTF-8 has no UTF-16 form to look for).
    if let Ok(text) = std::str::from_utf8(raw) {
        let units: Vec<u16> = text.encode_utf16().collect();
        forms.push(units.iter().flat_map(|unit| unit.to_le_bytes()).collect());
        forms.push(units.iter().flat_map(|unit| unit.to_be_bytes()).collect());
    }
    let normalised: Vec<Vec<u8>> = forms.iter().map(|form| normalise(form)).collect();
    forms.extend(normalised);
    forms.sort();
    forms.dedup();
    forms
}

/// The characters of `raw`'s encoding that are the same wherever `raw` starts in a longer
/// encoded stream, one form per byte alignment: an encoding of `bits` bits per character,
/// whose groups are `alignments` bytes long (base64: 3 and 6, base32: 5 and 5).
///
/// Each form encodes `raw` behind `offset` filler bytes and keeps only the characters whose
/// bits all come from the secret: the same characters appear whatever precedes or follows the
/// secret in the encoded stream.
fn aligned_forms(raw: &[u8], alignments: usize, bits: usize, encode: impl Fn(&[u8]) -> Vec<u8>) -> Vec<Vec<u8>> {
    let mut forms = Vec::new();
    for offset in 0..alignments {
        let mut shifted = vec![0u8; offset];
        shifted.extend_from_slice(raw);
        let encoded = encode(&shifted);
        let first = (8 * offset).div_ceil(bits);
        let last = (8 * (offset + raw.len())) / bits;
        if last > first {
            forms.push(encoded[first..last].to_vec());
        }
    }
    forms
}

/// Shortest secret the scanner accepts.
pub(crate) const MIN_SECRET_LEN: usize = 8;

/// Why a scanner could not be built.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ScanError {
    /// A secret is too short to search for reliably.
    #[error("secret `{0}` is shorter than {MIN_SECRET_LEN} characters; refusing to scan for it")]
    TooShort(String),
    /// The pattern set could not be compiled.
    #[error("cannot build the secret matcher: {0}")]
    Matcher(#[source] aho_corasick::BuildError),
    /// git failed (not merely "not a repository").
    #[error("{path}: cannot scan git history: {problem}")]
    Git {
        /// The folder.
        path: PathBuf,
        /// What went wrong.
        #[source]
        problem: GitProblem,
    },
    /// Entries that are not regular files or folders (FIFO, device, socket): never read,
    /// never called clean.
    #[error("cannot scan {}: not regular files; move them away or scan what they stand for", paths.join(", "))]
    Unscannable {
        /// Each entry, with what it is.
        paths: Vec<String>,
    },
    /// A file or folder could not be read.
    #[error("{path}: cannot read: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// Why the git history of a folder could not be scanned.
#[derive(Debug, thiserror::Error)]
pub(crate) enum GitProblem {
    /// `git` could not be started.
    #[error("cannot run {command}: {source}")]
    Start {
        /// `git rev-parse` or `git log`.
        command: &'static str,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// `git rev-parse` failed for another reason than "not a repository".
    #[error("git rev-parse failed: {stderr}")]
    RevParse {
        /// What git said (trimmed).
        stderr: String,
    },
    /// The piped stdout of `git log` is missing.
    #[error("git log has no stdout")]
    NoStdout,
    /// Reading `git log`'s output failed.
    #[error("reading git log: {0}")]
    Read(#[source] std::io::Error),
    /// `git log` exited unsuccessfully (or was killed at the time limit).
    #[error("git log failed ({status}); killed after {} s?", GIT_SCAN_LIMIT.as_secs())]
    Failed {
        /// Its exit status.
        status: std::process::ExitStatus,
    },
    /// Waiting for `git log` failed.
    #[error("git log: {0}")]
    Wait(#[source] std::io::Error),
}

impl fmt::Debug for SecretScanner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretScanner").field("secrets", &self.names).finish()
    }
}

impl SecretScanner {
    /// Builds a scanner for `secrets`.
    pub(crate) fn new(secrets: &[NamedSecret]) -> Result<SecretScanner, ScanError> {
        let mut pairs = Vec::new();
        for (index, secret) in secrets.iter().enumerate() {
            let raw = secret.value.expose();
            if raw.len() < MIN_SECRET_LEN {
                return Err(ScanError::TooShort(secret.name.clone()));
            }
            pairs.extend(encoded_forms(raw.as_bytes()).into_iter().map(|form| (form, index)));
        }
        // Case-insensitive (the patterns and the input are both lower-cased): an upper-cased
        // token or upper-case hex is the same leak.
        let patterns = search::Patterns::new(pairs).map_err(ScanError::Matcher)?;
        Ok(SecretScanner {
            patterns,
            names: secrets.iter().map(|secret| secret.name.clone()).collect(),
        })
    }

    /// Names of the secrets found in `bytes` (each once).
    pub(crate) fn find(&self, bytes: &[u8]) -> Vec<&str> {
        let mut lowered = normalise(bytes);
        lowered.make_ascii_lowercase();
        let mut found = vec![false; self.names.len()];
        self.patterns.each_occurrence(&lowered, |secret| found[secret] = true);
        self.names_of(&found)
    }

    /// The names of the secrets marked in `found`, sorted.
    fn names_of(&self, found: &[bool]) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .names
            .iter()
            .zip(found)
            .filter(|(_, found)| **found)
            .map(|(name, _)| name.as_str())
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    /// Scans `bytes` and records hits under `channel`/`location`.
    pub(crate) fn scan_bytes(&self, channel: &str, location: &str, bytes: &[u8], hits: &mut Vec<SecretHit>) {
        for secret in self.find(bytes) {
            hits.push(SecretHit {
                secret: secret.to_owned(),
                channel: channel.to_owned(),
                location: location.to_owned(),
            });
        }
    }

    /// Scans a file, or every file under a folder. A symlink's own target text is scanned
    /// (a link can spell a secret), and so is the file it points to when that is a regular
    /// file; links to folders are not followed below `path` itself. A FIFO, device or socket
    /// cannot be scanned without risking a read that never ends: the walk goes on, and then
    /// fails with [`ScanError::Unscannable`] naming them, so a scan never calls them clean.
    pub(crate) fn scan_path(&self, channel: &str, path: &Path, hits: &mut Vec<SecretHit>) -> Result<(), ScanError> {
        let mut unscannable = Vec::new();
        let root_is_dir = std::fs::metadata(path).is_ok_and(|metadata| metadata.is_dir());
        if root_is_dir {
            self.scan_dir(channel, path, hits, &mut unscannable)?;
        } else {
            self.scan_entry(channel, path, hits, &mut unscannable)?;
        }
        if unscannable.is_empty() {
            Ok(())
        } else {
            Err(ScanError::Unscannable { paths: unscannable })
        }
    }

    fn scan_dir(
        &self,
        channel: &str,
        dir: &Path,
        hits: &mut Vec<SecretHit>,
        unscannable: &mut Vec<String>,
    ) -> Result<(), ScanError> {
        let io = |source| ScanError::Io {
            path: dir.to_owned(),
            source,
        };
        let mut entries = std::fs::read_dir(dir)
            .map_err(io)?
            .map(|entry| entry.map(|entry| entry.path()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(io)?;
        entries.sort();
        for entry in entries {
            self.scan_entry(channel, &entry, hits, unscannable)?;
        }
        Ok(())
    }

    fn scan_entry(
        &self,
        channel: &str,
        path: &Path,
        hits: &mut Vec<SecretHit>,
        unscannable: &mut Vec<String>,
    ) -> Result<(), ScanError> {
        use crate::guarded_files::{FinalSymlink, RunFileError};
        use std::os::unix::ffi::OsStrExt;
        let io = |source| ScanError::Io {
            path: path.to_owned(),
            source,
        };
        let location = path.display().to_string();
        // The name itself can spell a secret too.
        if let Some(name) = path.file_name() {
            self.scan_bytes(channel, &format!("{location} (file name)"), name.as_bytes(), hits);
        }
        let metadata = std::fs::symlink_metadata(path).map_err(io)?;
        if metadata.is_dir() {
            return self.scan_dir(channel, path, hits, unscannable);
        }
        let target = if metadata.file_type().is_symlink() {
            let link = std::fs::read_link(path).map_err(io)?;
            self.scan_bytes(
                channel,
                &format!("{location} (symlink target)"),
                link.as_os_str().as_bytes(),
                hits,
            );
            match std::fs::metadata(path) {
                Ok(followed) if followed.is_file() => followed,
                // Dangling, or a link to a folder (not followed: it may loop or leave the tree).
                Ok(followed) if followed.is_dir() => return Ok(()),
                Err(_) => return Ok(()),
                Ok(followed) => {
                    unscannable.push(format!(
                        "{location} (a symlink to a {})",
                        crate::guarded_files::kind_of(followed.file_type())
                    ));
                    return Ok(());
                }
            }
        } else {
            metadata
        };
        if !target.is_file() {
            unscannable.push(format!(
                "{location} (a {})",
                crate::guarded_files::kind_of(target.file_type())
            ));
            return Ok(());
        }
        // Streamed: a Case's logs have no size limit, memory use here must not follow them.
        // O_NONBLOCK: a file swapped for a FIFO since the check cannot block the open.
        let file = match crate::guarded_files::open_guarded(path, FinalSymlink::Follow) {
            Ok((file, _)) => file,
            Err(RunFileError::NotRegular { .. }) => {
                unscannable.push(format!("{location} (no longer a regular file)"));
                return Ok(());
            }
            Err(err) => return Err(io(err.into())),
        };
        self.scan_reader(channel, &location, file, hits).map_err(io)
    }

    /// Scans everything `reader` yields, without holding it in memory: it is read in
    /// [`SCAN_CHUNK`]s, each normalised and lower-cased into a window that keeps the last
    /// bytes of the one before (one less than the longest pattern), so a form cut by a chunk's
    /// end is found whole in the next window.
    pub(crate) fn scan_reader(
        &self,
        channel: &str,
        location: &str,
        mut reader: impl std::io::Read,
        hits: &mut Vec<SecretHit>,
    ) -> std::io::Result<()> {
        let mut found = vec![false; self.names.len()];
        let mut chunk = vec![0u8; SCAN_CHUNK];
        let mut window: Vec<u8> = Vec::with_capacity(SCAN_CHUNK + self.patterns.longest());
        let mut normaliser = Normaliser::default();
        let carried = self.patterns.longest().saturating_sub(1);
        loop {
            let read = match reader.read(&mut chunk) {
                Ok(read) => read,
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err),
            };
            let fresh = window.len();
            if read == 0 {
                normaliser.finish(&mut window);
            } else {
                normaliser.push(&chunk[..read], &mut window);
            }
            window[fresh..].make_ascii_lowercase();
            self.patterns.each_occurrence(&window, |secret| found[secret] = true);
            if read == 0 {
                break;
            }
            window.drain(..window.len().saturating_sub(carried));
        }
        for secret in self.names_of(&found) {
            hits.push(SecretHit {
                secret: secret.to_owned(),
                channel: channel.to_owned(),
                location: location.to_owned(),
            });
        }
        Ok(())
    }

    /// Scans the git history of `path` when it is inside a git work tree: every commit's
    /// patch that touches it (`git log --all -p`), streamed and bounded by [`GIT_SCAN_LIMIT`].
    /// Returns `false` only when git says this is not a repository; any other failure of git
    /// is an error, never a silent "clean".
    pub(crate) fn scan_git_history(
        &self,
        channel: &str,
        path: &Path,
        hits: &mut Vec<SecretHit>,
    ) -> Result<bool, ScanError> {
        let dir = if path.is_dir() {
            path
        } else {
            path.parent().unwrap_or(Path::new("."))
        };
        let git_error = |problem: GitProblem| ScanError::Git {
            path: dir.to_owned(),
            problem,
        };
        let inside = std::process::Command::new("git")
            .args(["rev-parse", "--is-inside-work-tree"])
            .current_dir(dir)
            .output()
            .map_err(|source| git_error(GitProblem::Start { command: "git", source }))?;
        if !inside.status.success() {
            let stderr = String::from_utf8_lossy(&inside.stderr);
            if stderr.contains("not a git repository") {
                return Ok(false);
            }
            return Err(git_error(GitProblem::RevParse {
                stderr: stderr.trim().to_owned(),
            }));
        }
        let mut child = std::process::Command::new("git")
            .args(["log", "--all", "-p", "--no-color", "--no-ext-diff", "--", "."])
            .current_dir(dir)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|source| {
                git_error(GitProblem::Start {
                    command: "git log",
                    source,
                })
            })?;
        let stdout = child.stdout.take().ok_or_else(|| git_error(GitProblem::NoStdout))?;
        // A watchdog bounds the whole scan; git is killed if it runs past the limit.
        let pid = child.id();
        let (done, stop) = std::sync::mpsc::channel::<()>();
        let watchdog = std::thread::spawn(move || {
            if stop.recv_timeout(GIT_SCAN_LIMIT).is_err() {
                // SAFETY: kill(2) on the git process this function spawned and has not reaped.
                unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            }
        });
        let scanned = self.scan_reader(channel, &format!("git log of {}", dir.display()), stdout, hits);
        let status = child.wait();
        let _ = done.send(());
        let _ = watchdog.join();
        scanned.map_err(|err| git_error(GitProblem::Read(err)))?;
        match status {
            Ok(status) if status.success() => Ok(true),
            Ok(status) => Err(git_error(GitProblem::Failed { status })),
            Err(err) => Err(git_error(GitProblem::Wait(err))),
        }
    }
}

/// How much the streamed scan reads at a time: large enough that a `read` and a search per
/// chunk cost little, small enough to stay in a core's cache.
const SCAN_CHUNK: usize = 256 * 1024;

/// Longest the git-history scan may take.
pub(crate) const GIT_SCAN_LIMIT: std::time::Duration = std::time::Duration::from_secs(120);

#[cfg(test)]
mod tests {
    use super::encoding_tests::token_scanner;
    use super::*;
    use crate::secrets::SecretValue;

    #[test]
    fn scanner_finds_every_encoding_and_names_no_value() {
        let canary = SecretValue::new("canary+secret/value=1".to_owned());
        let scanner = SecretScanner::new(&[NamedSecret {
            name: "canary".to_owned(),
            value: canary,
        }])
        .expect("scanner");
        assert_eq!(
            scanner.find(b"Authorization: Bearer canary+secret/value=1"),
            vec!["canary"]
        );
        assert_eq!(scanner.find(b"?key=canary%2Bsecret%2Fvalue%3D1"), vec!["canary"]);
        use base64::Engine;
        let encoded = base64::engine::general_purpose::STANDARD.encode("canary+secret/value=1");
        assert_eq!(scanner.find(encoded.as_bytes()), vec!["canary"]);
        assert!(scanner.find(b"canary+secret/value=").is_empty());
        let mut hits = Vec::new();
        scanner.scan_bytes("trace", "trace.jsonl", b"xx canary+secret/value=1", &mut hits);
        assert_eq!(hits.len(), 1);
        assert!(!format!("{hits:?}{scanner:?}").contains("value=1"));
    }

    #[test]
    fn short_secrets_are_refused() {
        let short = NamedSecret {
            name: "k".to_owned(),
            value: SecretValue::new("abc".to_owned()),
        };
        assert!(matches!(SecretScanner::new(&[short]), Err(ScanError::TooShort(_))));
    }

    #[test]
    fn streamed_scan_finds_what_the_in_memory_scan_finds() {
        let scanner = SecretScanner::new(&[NamedSecret {
            name: "token".to_owned(),
            value: SecretValue::new("chc-token-abcdef0123".to_owned()),
        }])
        .expect("scanner");
        let mut big = vec![b'x'; 3 * 1024 * 1024];
        big.extend_from_slice(b"chc-token-abcdef0123");
        let mut hits = Vec::new();
        scanner
            .scan_reader("backend_logs", "case-stdout.log", &big[..], &mut hits)
            .expect("read");
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].secret, "token");
    }

    #[test]
    fn a_folder_outside_git_is_not_a_repository_and_not_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let scanner = SecretScanner::new(&[NamedSecret {
            name: "k".to_owned(),
            value: SecretValue::new("0123456789".to_owned()),
        }])
        .expect("scanner");
        let mut hits = Vec::new();
        assert!(
            !scanner
                .scan_git_history("commit", dir.path(), &mut hits)
                .expect("no error")
        );
    }

    /// Red-team finding 4: a symlink whose target text is the token, and a symlink to a file
    /// holding it, are both found; a FIFO is refused, never called clean.
    #[test]
    fn finding_4_scan_gaps_symlinks_are_scanned_and_fifos_refused() {
        let (scanner, token) = token_scanner();
        let dir = tempfile::tempdir().expect("tempdir");
        std::os::unix::fs::symlink(&token, dir.path().join("link")).expect("symlink");
        let outside = tempfile::tempdir().expect("tempdir");
        std::fs::write(outside.path().join("secret.txt"), &token).expect("write");
        std::os::unix::fs::symlink(outside.path().join("secret.txt"), dir.path().join("to-file")).expect("symlink");
        let mut hits = Vec::new();
        scanner.scan_path("case_output", dir.path(), &mut hits).expect("scan");
        let locations: Vec<&str> = hits.iter().map(|hit| hit.location.as_str()).collect();
        assert!(
            locations.iter().any(|l| l.ends_with("link (symlink target)")),
            "{locations:?}"
        );
        assert!(locations.iter().any(|l| l.ends_with("to-file")), "{locations:?}");

        let fifo = dir.path().join("fifo");
        let c_path = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).expect("no NUL");
        // SAFETY: mkfifo(3) on a NUL-terminated path in a temp folder this test owns.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        let mut hits = Vec::new();
        let err = scanner
            .scan_path("case_output", dir.path(), &mut hits)
            .expect_err("fifo");
        assert!(matches!(err, ScanError::Unscannable { .. }), "{err}");
        assert!(err.to_string().contains("fifo (a FIFO)"), "{err}");
        assert_eq!(hits.len(), 2, "the rest of the folder is still scanned");
        assert!(matches!(
            scanner.scan_path("files", Path::new("/dev/zero"), &mut Vec::new()),
            Err(ScanError::Unscannable { .. })
        ));
    }

    /// A stream far larger than one chunk is scanned through the normaliser, and a token at
    /// its very end is still found.
    #[test]
    fn a_token_at_the_end_of_a_large_stream_is_found() {
        let (scanner, token) = token_scanner();
        let mut hits = Vec::new();
        let big = std::io::repeat(b'a').take(16 * 1024 * 1024).chain(token.as_bytes());
        use std::io::Read;
        scanner.scan_reader("c", "big", big, &mut hits).expect("read");
        assert_eq!(hits.len(), 1);
    }
}

#[cfg(test)]
mod encoding_tests;
