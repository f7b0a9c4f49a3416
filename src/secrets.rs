//! Secret values and the scanner that proves none of them was written anywhere.
//!
//! A secret is a type, not a string: [`SecretValue`] cannot be printed (its `Debug` and
//! `Display` say `[redacted]`), is not `Serialize`, and hands out its bytes only through
//! [`SecretValue::expose`], so every place that touches the raw value is greppable.

use std::fmt;
use std::path::{Path, PathBuf};

use aho_corasick::AhoCorasick;
use secrecy::{ExposeSecret, SecretString};

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
    pub fn matches(&self, presented: &[u8]) -> bool {
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
pub struct NamedSecret {
    /// What the secret is, e.g. `upstream_api_key`, `case_token`, `canary`.
    pub name: String,
    /// The value.
    pub value: SecretValue,
}

/// One place a secret was found: which secret, which channel, which file (never the value).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
// A field the harness never writes is a forgery: `verify` must refuse it (found by
// harness-tests/run/sealing.rs), not drop it while the seal still matches.
#[serde(deny_unknown_fields)]
pub struct SecretHit {
    /// Name of the secret found.
    pub secret: String,
    /// The channel, e.g. `backend_logs`.
    pub channel: String,
    /// The file (or `argv[N]`, `git log`) it was found in.
    pub location: String,
}

/// Searches bytes for every form of a set of secrets in one pass.
///
/// Each secret is searched for as written, percent-encoded, base64-encoded and
/// JSON-escaped, because that is how secrets leak into URLs, auth headers and logs.
/// Secrets shorter than [`MIN_SECRET_LEN`] are refused: they would match by accident.
pub struct SecretScanner {
    matcher: AhoCorasick,
    /// For each pattern, the index of its secret in `names`.
    pattern_secret: Vec<usize>,
    names: Vec<String>,
}

/// Shortest secret the scanner accepts.
pub const MIN_SECRET_LEN: usize = 8;

/// Why a scanner could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// A secret is too short to search for reliably.
    #[error("secret `{0}` is shorter than {MIN_SECRET_LEN} characters; refusing to scan for it")]
    TooShort(String),
    /// The pattern set could not be compiled.
    #[error("cannot build the secret matcher: {0}")]
    Matcher(String),
    /// git failed (not merely "not a repository").
    #[error("{path}: cannot scan git history: {message}")]
    Git {
        /// The folder.
        path: PathBuf,
        /// What went wrong.
        message: String,
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

impl fmt::Debug for SecretScanner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretScanner").field("secrets", &self.names).finish()
    }
}

impl SecretScanner {
    /// Builds a scanner for `secrets`.
    pub fn new(secrets: &[NamedSecret]) -> Result<SecretScanner, ScanError> {
        use base64::Engine;
        let mut patterns: Vec<Vec<u8>> = Vec::new();
        let mut pattern_secret = Vec::new();
        for (index, secret) in secrets.iter().enumerate() {
            let raw = secret.value.expose();
            if raw.len() < MIN_SECRET_LEN {
                return Err(ScanError::TooShort(secret.name.clone()));
            }
            let mut forms = vec![
                raw.as_bytes().to_vec(),
                url::form_urlencoded::byte_serialize(raw.as_bytes())
                    .collect::<String>()
                    .into_bytes(),
                base64::engine::general_purpose::STANDARD.encode(raw).into_bytes(),
                serde_json::to_string(raw)
                    .unwrap_or_default()
                    .trim_matches('"')
                    .as_bytes()
                    .to_vec(),
            ];
            forms.sort();
            forms.dedup();
            for form in forms {
                patterns.push(form);
                pattern_secret.push(index);
            }
        }
        let matcher = AhoCorasick::new(&patterns).map_err(|err| ScanError::Matcher(err.to_string()))?;
        Ok(SecretScanner {
            matcher,
            pattern_secret,
            names: secrets.iter().map(|secret| secret.name.clone()).collect(),
        })
    }

    /// Names of the secrets found in `bytes` (each once).
    pub fn find(&self, bytes: &[u8]) -> Vec<&str> {
        let mut found: Vec<&str> = self
            .matcher
            .find_overlapping_iter(bytes)
            .map(|hit| self.names[self.pattern_secret[hit.pattern().as_usize()]].as_str())
            .collect();
        found.sort_unstable();
        found.dedup();
        found
    }

    /// Scans `bytes` and records hits under `channel`/`location`.
    pub fn scan_bytes(&self, channel: &str, location: &str, bytes: &[u8], hits: &mut Vec<SecretHit>) {
        for secret in self.find(bytes) {
            hits.push(SecretHit {
                secret: secret.to_owned(),
                channel: channel.to_owned(),
                location: location.to_owned(),
            });
        }
    }

    /// Scans a file, or every file under a folder (symlinks are not followed).
    pub fn scan_path(&self, channel: &str, path: &Path, hits: &mut Vec<SecretHit>) -> Result<(), ScanError> {
        let io = |source| ScanError::Io {
            path: path.to_owned(),
            source,
        };
        let metadata = std::fs::symlink_metadata(path).map_err(io)?;
        if metadata.is_dir() {
            let mut entries = std::fs::read_dir(path)
                .map_err(io)?
                .map(|entry| entry.map(|entry| entry.path()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(io)?;
            entries.sort();
            for entry in entries {
                self.scan_path(channel, &entry, hits)?;
            }
        } else if metadata.is_file() {
            // Streamed: a Case's logs have no size limit, memory use here must not follow them.
            let file = std::fs::File::open(path).map_err(io)?;
            self.scan_reader(channel, &path.display().to_string(), file, hits)
                .map_err(io)?;
        }
        Ok(())
    }

    /// Scans everything `reader` yields, without holding it in memory.
    pub fn scan_reader(
        &self,
        channel: &str,
        location: &str,
        reader: impl std::io::Read,
        hits: &mut Vec<SecretHit>,
    ) -> std::io::Result<()> {
        let mut found: Vec<&str> = Vec::new();
        for hit in self.matcher.stream_find_iter(reader) {
            let name = self.names[self.pattern_secret[hit?.pattern().as_usize()]].as_str();
            if !found.contains(&name) {
                found.push(name);
            }
        }
        found.sort_unstable();
        for secret in found {
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
    pub fn scan_git_history(&self, channel: &str, path: &Path, hits: &mut Vec<SecretHit>) -> Result<bool, ScanError> {
        let dir = if path.is_dir() {
            path
        } else {
            path.parent().unwrap_or(Path::new("."))
        };
        let git_error = |message: String| ScanError::Git {
            path: dir.to_owned(),
            message,
        };
        let inside = std::process::Command::new("git")
            .args(["rev-parse", "--is-inside-work-tree"])
            .current_dir(dir)
            .output()
            .map_err(|err| git_error(format!("cannot run git: {err}")))?;
        if !inside.status.success() {
            let stderr = String::from_utf8_lossy(&inside.stderr);
            if stderr.contains("not a git repository") {
                return Ok(false);
            }
            return Err(git_error(format!("git rev-parse failed: {}", stderr.trim())));
        }
        let mut child = std::process::Command::new("git")
            .args(["log", "--all", "-p", "--no-color", "--no-ext-diff", "--", "."])
            .current_dir(dir)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|err| git_error(format!("cannot run git log: {err}")))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| git_error("git log has no stdout".to_owned()))?;
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
        scanned.map_err(|err| git_error(format!("reading git log: {err}")))?;
        match status {
            Ok(status) if status.success() => Ok(true),
            Ok(status) => Err(git_error(format!(
                "git log failed ({status}); killed after {} s?",
                GIT_SCAN_LIMIT.as_secs()
            ))),
            Err(err) => Err(git_error(format!("git log: {err}"))),
        }
    }
}

/// Longest the git-history scan may take.
pub const GIT_SCAN_LIMIT: std::time::Duration = std::time::Duration::from_secs(120);

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
}
