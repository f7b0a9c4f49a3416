//! Secret values and the scanner that proves none of them was written anywhere.
//!
//! A secret is a type, not a string: [`SecretValue`] cannot be printed (its `Debug` and
//! `Display` say `[redacted]`), is not `Serialize`, and hands out its bytes only through
//! [`SecretValue::expose`], so every place that touches the raw value is greppable.

use std::fmt;
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};

mod base32;
mod normalise;
mod search;

use normalise::Normaliser;
pub(crate) use normalise::normalise;

/// A secret (upstream API key, per-run token, canary). Never printed, never serialized.
#[derive(Clone)]
pub struct SecretValue(SecretString);

impl SecretValue {
    /// Wraps a raw value. The caller should drop its own copy.
    pub fn new(value: String) -> Self {
        SecretValue(SecretString::from(value))
    }

    /// A fresh random value of 32 bytes of OS randomness, hex-encoded, with a recognisable prefix.
    pub fn random(prefix: &str) -> Self {
        let bytes: [u8; 32] = rand::random();
        SecretValue::new(format!("{prefix}{}", hex::encode(bytes)))
    }

    /// The raw value. Call only where the value must leave this type (an HTTP header, a
    /// comparison, a scan); never format it into a message.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// Constant-time comparison with a presented value.
    pub(crate) fn matches(&self, presented: &[u8]) -> bool {
        use subtle::ConstantTimeEq;
        self.expose().as_bytes().ct_eq(presented).into()
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretValue([redacted])")
    }
}

impl fmt::Display for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A named secret to look for (the name is what reports show; the value never is).
#[derive(Debug, Clone)]
pub(crate) struct NamedSecret {
    /// What the secret is, e.g. `upstream_api_key`, `case_token`, `canary`.
    pub name: String,
    /// The value.
    pub value: SecretValue,
}

pub use crate::output::SecretHit;

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
    use super::*;

    #[test]
    fn never_prints_its_value() {
        let secret = SecretValue::new("canary-3f9a".to_owned());
        assert!(!format!("{secret:?} {secret} {:?}", Some(&secret)).contains("canary-3f9a"));
        assert_eq!(secret.expose(), "canary-3f9a");
    }

    #[test]
    fn compares_exactly() {
        let secret = SecretValue::random("t-");
        assert!(secret.matches(secret.expose().as_bytes()));
        assert!(!secret.matches(b"t-"));
        assert!(!secret.matches(format!("{}x", secret.expose()).as_bytes()));
    }

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

    fn token_scanner() -> (SecretScanner, String) {
        let token = SecretValue::random("chc-token-");
        let raw = token.expose().to_owned();
        let scanner = SecretScanner::new(&[NamedSecret {
            name: "case_token".to_owned(),
            value: token,
        }])
        .expect("scanner");
        (scanner, raw)
    }

    /// Red-team finding 4: each form an accidental leak of the token takes is found.
    #[test]
    fn finding_4_scan_gaps_every_accidental_encoding_of_the_token_is_found() {
        use base64::Engine;
        let (scanner, token) = token_scanner();
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
        let url_b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let mut leaks = vec![
            ("upper case", token.to_uppercase()),
            ("hex", hex::encode(&token)),
            ("upper-case hex", hex::encode_upper(&token)),
            (
                "basic auth",
                format!("Authorization: Basic {}", b64(format!("user:{token}").as_bytes())),
            ),
            (
                "json \\u escapes",
                token.chars().map(|c| format!("\\u{:04x}", c as u32)).collect(),
            ),
            (
                "full percent-encoding",
                token.bytes().map(|b| format!("%{b:02X}")).collect(),
            ),
            ("partial percent-encoding", format!("GET /v1/%63{}", &token[1..])),
            ("split across lines", format!("{}\n{}", &token[..12], &token[12..])),
            (
                "split with CRLF and indent",
                format!("{}\r\n    {}", &token[..5], &token[5..]),
            ),
            (
                "wrapped base64",
                b64(format!("{token}{token}").as_bytes())
                    .as_bytes()
                    .chunks(20)
                    .map(|chunk| String::from_utf8_lossy(chunk).into_owned())
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
        ];
        for offset in 0..3 {
            let prefix = "x".repeat(offset + 3);
            leaks.push(("base64 at an offset", b64(format!("{prefix}{token}!").as_bytes())));
            leaks.push((
                "url-safe base64 at an offset",
                url_b64(format!("{prefix}{token}").as_bytes()),
            ));
        }
        for (form, text) in leaks {
            assert_eq!(scanner.find(text.as_bytes()), vec!["case_token"], "{form}: not found");
            let mut hits = Vec::new();
            scanner.scan_reader("c", "f", text.as_bytes(), &mut hits).expect("read");
            assert_eq!(hits.len(), 1, "{form}: not found when streamed");
        }
        // A prefix of the token is not the token.
        assert!(scanner.find(&token.as_bytes()[..token.len() - 1]).is_empty());
        assert!(scanner.find(b"plain text with 100% of nothing \\u12 in it").is_empty());
    }

    /// A reader that hands out `step` bytes at a time: every chunk boundary a stream can have.
    struct Trickle<'a> {
        bytes: &'a [u8],
        step: usize,
    }

    impl std::io::Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let count = self.step.min(buf.len()).min(self.bytes.len());
            buf[..count].copy_from_slice(&self.bytes[..count]);
            self.bytes = &self.bytes[count..];
            Ok(count)
        }
    }

    fn utf16(text: &str, little_endian: bool) -> Vec<u8> {
        text.encode_utf16()
            .flat_map(|unit| {
                if little_endian {
                    unit.to_le_bytes()
                } else {
                    unit.to_be_bytes()
                }
            })
            .collect()
    }

    fn percent_twice(text: &str) -> String {
        text.bytes().map(|byte| format!("%25{byte:02X}")).collect()
    }

    fn entities_mixed(text: &str) -> String {
        text.bytes()
            .enumerate()
            .map(|(index, byte)| match index % 3 {
                0 => format!("&#{byte};"),
                1 => format!("&#x{byte:x};"),
                _ => format!("&#X{byte:04X};"),
            })
            .collect()
    }

    /// RFC 4648 base32 with `=` padding, as most encoders write it.
    fn base32_padded(bytes: &[u8]) -> String {
        let mut text = String::from_utf8(base32::encode(bytes)).expect("ASCII");
        while !text.len().is_multiple_of(8) {
            text.push('=');
        }
        text
    }

    /// The encoded forms of `text` that the scan must find (issue 22).
    fn issue_22_leaks(text: &str) -> Vec<(String, Vec<u8>)> {
        let mut leaks = vec![
            ("utf-16le".to_owned(), utf16(&format!("token={text}"), true)),
            (
                "utf-16le with BOM, upper case".to_owned(),
                [&[0xff, 0xfe][..], &utf16(&text.to_uppercase(), true)].concat(),
            ),
            ("utf-16be".to_owned(), utf16(&format!("token={text}\n"), false)),
            (
                "utf-16be with BOM".to_owned(),
                [&[0xfe, 0xff][..], &utf16(text, false)].concat(),
            ),
            ("double percent".to_owned(), percent_twice(text).into_bytes()),
            (
                "double percent, lower-case hex, partial".to_owned(),
                format!("GET /v1/?k={}{}", percent_twice(&text[..4]).to_lowercase(), &text[4..]).into_bytes(),
            ),
            (
                "triple percent".to_owned(),
                percent_twice(text).replace('%', "%25").into_bytes(),
            ),
            (
                "decimal entities".to_owned(),
                text.bytes()
                    .map(|byte| format!("&#{byte};"))
                    .collect::<String>()
                    .into_bytes(),
            ),
            (
                "hex entities".to_owned(),
                text.bytes()
                    .map(|byte| format!("&#x{byte:x};"))
                    .collect::<String>()
                    .into_bytes(),
            ),
            (
                "mixed entities".to_owned(),
                format!("<p>{}</p>", entities_mixed(text)).into_bytes(),
            ),
        ];
        for offset in 0..5 {
            let prefix = "u".repeat(offset + 5);
            let stream = format!("{prefix}{text}!?");
            leaks.push((
                format!("base32 at {offset}, padded"),
                base32_padded(stream.as_bytes()).into_bytes(),
            ));
            leaks.push((
                format!("base32 at {offset}, lower case, no padding"),
                String::from_utf8(base32::encode(stream.as_bytes()))
                    .expect("ASCII")
                    .to_lowercase()
                    .into_bytes(),
            ));
            leaks.push((
                format!("base32 at {offset}, wrapped"),
                base32_padded(stream.as_bytes())
                    .as_bytes()
                    .chunks(16)
                    .collect::<Vec<_>>()
                    .join(&b'\n'),
            ));
        }
        leaks
    }

    /// Issue 22: UTF-16 (LE, BE), percent-encoding applied twice, numeric HTML entities and
    /// base32 are found, in one piece and streamed a few bytes at a time.
    #[test]
    fn issue_22_every_further_accidental_encoding_of_the_token_is_found() {
        let (scanner, token) = token_scanner();
        for (form, bytes) in issue_22_leaks(&token) {
            assert_eq!(scanner.find(&bytes), vec!["case_token"], "{form}: not found");
            for step in [1, 3, 7, 64] {
                let mut hits = Vec::new();
                scanner
                    .scan_reader("c", "f", Trickle { bytes: &bytes, step }, &mut hits)
                    .expect("read");
                assert_eq!(hits.len(), 1, "{form}: not found when streamed {step} bytes at a time");
            }
        }
        // The same encodings of all but the token's last character are not the token (base32
        // leaves out: its last character carries only some bits of the last byte, so a
        // different byte after the prefix may share them).
        for (form, bytes) in issue_22_leaks(&token[..token.len() - 1]) {
            if !form.starts_with("base32") {
                assert!(scanner.find(&bytes).is_empty(), "{form}: a prefix is not the token");
            }
        }
    }

    /// Base32 as Python's `base64.b32encode` writes it (an encoder other than this crate's), at
    /// two alignments, upper case padded and lower case.
    #[test]
    fn issue_22_base32_from_another_encoder_is_found() {
        let scanner = SecretScanner::new(&[NamedSecret {
            name: "case_token".to_owned(),
            value: SecretValue::new("chc-token-5e1f0c2a9b7d3e4f".to_owned()),
        }])
        .expect("scanner");
        // b32encode(b"id:" + token) and b32encode(b"ab" + token + b"!").lower().
        for encoded in [
            "NFSDUY3IMMWXI33LMVXC2NLFGFTDAYZSME4WEN3EGNSTIZQ=",
            "mfrgg2ddfv2g623fnywtkzjrmyyggmtbhfrdozbtmu2gmii=",
        ] {
            assert_eq!(scanner.find(encoded.as_bytes()), vec!["case_token"], "{encoded}");
        }
        assert!(
            scanner.find(b"NFSDUY3IMMWXI33LMVXC2NLFGFTDAYZSME4WEN3EGNST").is_empty(),
            "cut short"
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
