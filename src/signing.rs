//! Ed25519 keys for signing evidence: `keygen`, loading a private key safely, loading a
//! public key to verify with.
//!
//! The seal proves a report and its folder agree; only a key the agent under test cannot read
//! proves who produced them. So a private key is refused when it could have been read or
//! planted by anyone else: when its file is readable or writable by group/other, or when it
//! lies inside the run folder it would sign; and a run folder inside the key's folder is refused
//! too, since confinement hides that folder from Case. Keys are standard files other tools load: the
//! private key is PKCS#8 PEM (`BEGIN PRIVATE KEY`), the public key SubjectPublicKeyInfo PEM
//! (`BEGIN PUBLIC KEY`), the forms `openssl pkey` and Python's `cryptography` read.
//!
//! Key ids follow securesystemslib's default (sha256 over the canonical JSON of
//! `{"keytype":"ed25519","keyval":{"public":HEX},"scheme":"ed25519"}`), so an independent
//! DSSE verifier that loads our `.pub` file matches our signatures by key id unaided.

use std::fmt;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

/// Names the private key file the harness signs with (`run`, `evidence`, `evidence merge`).
pub(crate) const ENV_SIGNING_KEY: &str = "CASE_HARNESS_SIGNING_KEY";

/// Suffix of the public key written beside the private key by `keygen`.
pub(crate) const PUBLIC_KEY_SUFFIX: &str = ".pub";

/// Why a key could not be made, loaded or used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Reading or writing a key file failed.
    #[error(transparent)]
    Io(#[from] crate::path_io::PathIoError),
    /// `keygen` would overwrite an existing key.
    #[error("{path} already exists: refusing to overwrite a key (remove it or choose another PATH)")]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// The file is not a key of the expected form.
    #[error("{path}: not an Ed25519 {expected} in PEM form ({detail})")]
    Format {
        /// The file.
        path: PathBuf,
        /// `PKCS#8 private key` or `SubjectPublicKeyInfo public key`.
        expected: &'static str,
        /// What the parser said.
        detail: String,
    },
    /// The private key file is readable or writable by other users.
    #[error(
        "{path}: signing key has mode {mode:04o}, so group/other can read or write it; run `chmod 600 {path}` (and keep it where the agent under test cannot read it)"
    )]
    TooOpen {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// `keygen` was given no path and there is no home to find the default folder in.
    #[error(
        "no key path given, and neither XDG_CONFIG_HOME nor HOME is set to find the default key folder: pass a PATH"
    )]
    NoDefaultFolder,
    /// The key file has more than one name: a hard link elsewhere could be outside every
    /// folder the sandbox hides (the theft of round three made one in an unsigned run).
    #[error(
        "{path}: signing key has {links} hard links, so it can be read through a name the sandbox does not hide; make a fresh key with `case-harness keygen` (and remove this one and its other names)"
    )]
    HardLinked {
        /// The file.
        path: PathBuf,
        /// Its link count.
        links: u64,
    },
    /// The run folder lies inside the key's folder, which a sandbox hides from Case.
    #[error(
        "{path}: the run folder {run_dir} is inside the signing key's folder, which is hidden from Case under confinement; keep the key in a folder of its own"
    )]
    RunFolderInsideKeyFolder {
        /// The key file.
        path: PathBuf,
        /// The run or evidence folder.
        run_dir: PathBuf,
    },
    /// The private key file lies inside the run folder it would sign.
    #[error(
        "{path}: signing key is inside the run folder {run_dir}, where Case could read it; keep the key outside every evidence folder"
    )]
    InsideRunFolder {
        /// The key file.
        path: PathBuf,
        /// The run or evidence folder.
        run_dir: PathBuf,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> KeyError + '_ {
    move |source| KeyError::Io(crate::path_io::at(path)(source))
}

/// An Ed25519 private key loaded from a file that passed the safety checks. Its `Debug`
/// shows the key id only.
pub(crate) struct EvidenceSigner {
    key: SigningKey,
    keyid: String,
    path: PathBuf,
}

impl fmt::Debug for EvidenceSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EvidenceSigner")
            .field("keyid", &self.keyid)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl EvidenceSigner {
    /// Loads the private key at `path`, refusing a key readable by group/other or lying
    /// inside `evidence_dir` (which need not exist yet).
    pub(crate) fn load(path: &Path, evidence_dir: &Path) -> Result<Self, KeyError> {
        let metadata = std::fs::metadata(path).map_err(io(path))?;
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyError::TooOpen {
                path: path.to_owned(),
                mode,
            });
        }
        if metadata.nlink() > 1 {
            return Err(KeyError::HardLinked {
                path: path.to_owned(),
                links: metadata.nlink(),
            });
        }
        let key_real = std::fs::canonicalize(path).map_err(io(path))?;
        let dir_real = resolve(evidence_dir);
        if key_real.starts_with(&dir_real) {
            return Err(KeyError::InsideRunFolder {
                path: path.to_owned(),
                run_dir: evidence_dir.to_owned(),
            });
        }
        if key_real.parent().is_some_and(|key_dir| dir_real.starts_with(key_dir)) {
            return Err(KeyError::RunFolderInsideKeyFolder {
                path: path.to_owned(),
                run_dir: evidence_dir.to_owned(),
            });
        }
        let text = std::fs::read_to_string(path).map_err(io(path))?;
        let key = SigningKey::from_pkcs8_pem(&text).map_err(|err| KeyError::Format {
            path: path.to_owned(),
            expected: "PKCS#8 private key",
            detail: err.to_string(),
        })?;
        Ok(EvidenceSigner {
            keyid: keyid(&key.verifying_key()),
            key,
            path: path.to_owned(),
        })
    }

    /// The key id (securesystemslib's default id of the public key).
    pub(crate) fn keyid(&self) -> &str {
        &self.keyid
    }

    /// Signs `message` (the DSSE pre-authentication encoding).
    pub(crate) fn sign(&self, message: &[u8]) -> Signature {
        self.key.sign(message)
    }
}

/// A public key to verify evidence with.
#[derive(Debug, Clone)]
pub(crate) struct EvidenceKey {
    key: VerifyingKey,
    keyid: String,
}

impl EvidenceKey {
    /// Loads a SubjectPublicKeyInfo PEM public key.
    pub(crate) fn load(path: &Path) -> Result<Self, KeyError> {
        let text = std::fs::read_to_string(path).map_err(io(path))?;
        let key = VerifyingKey::from_public_key_pem(&text).map_err(|err| KeyError::Format {
            path: path.to_owned(),
            expected: "SubjectPublicKeyInfo public key",
            detail: err.to_string(),
        })?;
        Ok(EvidenceKey {
            keyid: keyid(&key),
            key,
        })
    }

    /// The key id (securesystemslib's default id).
    pub(crate) fn keyid(&self) -> &str {
        &self.keyid
    }

    /// Whether `signature` is this key's signature over `message` (strict verification:
    /// no malleable or small-order forms).
    pub(crate) fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        Signature::from_slice(signature).is_ok_and(|signature| self.key.verify_strict(message, &signature).is_ok())
    }
}

/// securesystemslib's default key id for an Ed25519 public key.
fn keyid(key: &VerifyingKey) -> String {
    let canonical = format!(
        r#"{{"keytype":"ed25519","keyval":{{"public":"{}"}},"scheme":"ed25519"}}"#,
        hex::encode(key.to_bytes())
    );
    crate::records::sha256_hex(canonical.as_bytes())
}

/// What `keygen` wrote.
#[derive(Debug)]
pub struct GeneratedKey {
    /// The private key (mode 0600).
    pub private_path: PathBuf,
    /// The public key (`PATH.pub`).
    pub public_path: PathBuf,
    /// The key id.
    pub keyid: String,
}

/// The folder `keygen` writes to when given no path, and that every run hides from Case,
/// signed or not: `$XDG_CONFIG_HOME/case-harness/keys`, else `~/.config/case-harness/keys`.
pub fn default_key_dir() -> Option<PathBuf> {
    key_dir_in(
        std::env::var_os("XDG_CONFIG_HOME").map(PathBuf::from),
        std::env::var_os("HOME").map(PathBuf::from),
    )
}

/// [`default_key_dir`] for the given `XDG_CONFIG_HOME` and `HOME` (the harness passes those of
/// its one environment snapshot, `config::Environment`).
pub(crate) fn key_dir_in(xdg_config_home: Option<PathBuf>, home: Option<PathBuf>) -> Option<PathBuf> {
    let config = xdg_config_home
        .filter(|path| path.is_absolute())
        .or_else(|| home.map(|home| home.join(".config")))?;
    Some(config.join("case-harness").join("keys"))
}

/// The private key's file name in the default key folder.
pub(crate) const DEFAULT_KEY_FILE: &str = "signing.key";

/// The private key's path when `keygen` is given none: `signing.key` in [`default_key_dir`].
pub fn default_key_path() -> Option<PathBuf> {
    default_key_dir().map(|dir| dir.join(DEFAULT_KEY_FILE))
}

/// Writes a fresh Ed25519 private key to `path` (PKCS#8 PEM, created with mode 0600, never
/// overwriting) and its public key to `path.pub` (SubjectPublicKeyInfo PEM); a missing
/// folder is created, readable by its owner only.
pub fn keygen(path: &Path) -> Result<GeneratedKey, KeyError> {
    let public_path = public_key_path(path);
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty() && !dir.exists()) {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io(dir))?;
    }
    for existing in [path, public_path.as_path()] {
        if existing.exists() {
            return Err(KeyError::Exists {
                path: existing.to_owned(),
            });
        }
    }
    let seed: [u8; 32] = rand::random();
    let key = SigningKey::from_bytes(&seed);
    let encode_error = |expected, err: &dyn fmt::Display| KeyError::Format {
        path: path.to_owned(),
        expected,
        detail: err.to_string(),
    };
    // PKCS#8 v1 (the private key alone): OpenSSL 3.0 refuses the v2 form that embeds the
    // public key, and the public key is derived on load anyway.
    let private_only = ed25519_dalek::pkcs8::KeypairBytes {
        secret_key: key.to_bytes(),
        public_key: None,
    };
    let private_pem = private_only
        .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
        .map_err(|err| encode_error("PKCS#8 private key", &err))?;
    let public_pem = key
        .verifying_key()
        .to_public_key_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
        .map_err(|err| encode_error("SubjectPublicKeyInfo public key", &err))?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io(path))?;
    file.write_all(private_pem.as_bytes()).map_err(io(path))?;
    file.sync_all().map_err(io(path))?;
    // The umask may have narrowed the mode further; it must not be wider than 0600.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io(path))?;
    let mut public = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(&public_path)
        .map_err(io(&public_path))?;
    public.write_all(public_pem.as_bytes()).map_err(io(&public_path))?;
    Ok(GeneratedKey {
        private_path: path.to_owned(),
        public_path,
        keyid: keyid(&key.verifying_key()),
    })
}

/// `PATH.pub`.
pub(crate) fn public_key_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(PUBLIC_KEY_SUFFIX);
    PathBuf::from(name)
}

/// The path with symlinks resolved as far as it exists, the rest appended as written.
fn resolve(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let mut existing = absolute.as_path();
    let mut rest = Vec::new();
    loop {
        if let Ok(real) = std::fs::canonicalize(existing) {
            return rest.iter().rev().fold(real, |acc: PathBuf, part| acc.join(part));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_owned());
                existing = parent;
            }
            _ => return absolute,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keygen_writes_a_private_key_only_its_owner_can_read_and_a_loadable_public_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("keys")).expect("keys");
        let path = dir.path().join("keys/signing.key");
        let generated = keygen(&path).expect("keygen");
        let mode = std::fs::metadata(&path).expect("key").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let private = std::fs::read_to_string(&path).expect("read");
        assert!(private.starts_with("-----BEGIN PRIVATE KEY-----"), "{private}");
        let public = std::fs::read_to_string(&generated.public_path).expect("read pub");
        assert!(public.starts_with("-----BEGIN PUBLIC KEY-----"), "{public}");

        let signer = EvidenceSigner::load(&path, &dir.path().join("run")).expect("load");
        let verifier = EvidenceKey::load(&generated.public_path).expect("load pub");
        assert_eq!(signer.keyid(), verifier.keyid());
        assert_eq!(signer.keyid(), generated.keyid);
        let signature = signer.sign(b"message");
        assert!(verifier.verifies(b"message", &signature.to_bytes()));
        assert!(!verifier.verifies(b"messagf", &signature.to_bytes()));
        assert!(!format!("{signer:?}").contains("PRIVATE"));
    }

    #[test]
    fn keygen_never_overwrites() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("k");
        keygen(&path).expect("first");
        let error = keygen(&path).expect_err("second");
        assert!(error.to_string().contains("already exists"), "{error}");
    }

    #[test]
    fn a_key_readable_by_others_is_refused_naming_the_fix() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("keys")).expect("keys");
        let path = dir.path().join("keys/k");
        keygen(&path).expect("keygen");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        let error = EvidenceSigner::load(&path, &dir.path().join("run")).expect_err("too open");
        assert!(matches!(error, KeyError::TooOpen { mode: 0o640, .. }), "{error}");
        assert!(error.to_string().contains("chmod 600"), "{error}");
    }

    /// Round-three attack: a Case in an unsigned run hard-linked the key into a writable
    /// place, then read it through the link in a later signed run. A key with a second
    /// name is refused before anything runs.
    #[test]
    fn a_key_with_a_second_hard_link_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("keys")).expect("keys");
        let path = dir.path().join("keys/k");
        keygen(&path).expect("keygen");
        EvidenceSigner::load(&path, &dir.path().join("run")).expect("one name: accepted");
        std::fs::hard_link(&path, dir.path().join("stolen")).expect("link");
        let error = EvidenceSigner::load(&path, &dir.path().join("run")).expect_err("two names");
        assert!(matches!(error, KeyError::HardLinked { links: 2, .. }), "{error}");
        assert!(error.to_string().contains("case-harness keygen"), "{error}");
    }

    #[test]
    fn a_key_inside_the_run_folder_is_refused_even_before_the_folder_exists() {
        let dir = tempfile::tempdir().expect("tempdir");
        let run = dir.path().join("run");
        std::fs::create_dir(&run).expect("run");
        let path = run.join("k");
        keygen(&path).expect("keygen");
        let error = EvidenceSigner::load(&path, &run).expect_err("inside");
        assert!(matches!(error, KeyError::InsideRunFolder { .. }), "{error}");
        // A folder that does not exist yet, reached through a parent that does.
        let error = EvidenceSigner::load(&path, dir.path()).expect_err("inside parent");
        assert!(matches!(error, KeyError::InsideRunFolder { .. }), "{error}");
        assert!(EvidenceSigner::load(&path, &dir.path().join("elsewhere/new")).is_ok());
    }

    #[test]
    fn a_run_folder_inside_the_keys_folder_is_refused_because_that_folder_is_hidden_from_case() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("k");
        keygen(&path).expect("keygen");
        let error = EvidenceSigner::load(&path, &dir.path().join("runs/one")).expect_err("inside key folder");
        assert!(matches!(error, KeyError::RunFolderInsideKeyFolder { .. }), "{error}");
        assert!(
            error.to_string().contains("keep the key in a folder of its own"),
            "{error}"
        );
    }

    #[test]
    fn keyid_is_securesystemslibs_default() {
        // Computed by securesystemslib 1.6.0: SSlibKey.from_pem(RFC 8032 test 1's public key).keyid
        let public = hex::decode("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a").expect("hex");
        let key = VerifyingKey::from_bytes(&public.try_into().expect("32 bytes")).expect("key");
        assert_eq!(keyid(&key), KNOWN_KEYID);
    }

    const KNOWN_KEYID: &str = "74c181c7ad8a0855d4b55e44d2ba87aabdddb196832571f15f92fece332e4916";
}
