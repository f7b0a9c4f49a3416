//! The two JSON records the route is gated on: the CTO-WORK-020 **decision record** and the
//! CTO-WORK-020 **admission record**.
//!
//! Both are parsed strictly, because a gate that guesses is not a gate: unknown fields,
//! duplicate keys, wrong types, empty strings, a file that is not UTF-8 or not JSON, a
//! directory, a missing file, or a file over [`MAX_RECORD_BYTES`] are all errors that name
//! the file and the field. Values are kept exactly as written; the gates compare them
//! exactly. The harness only ever *reads* these files.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Largest record file the harness will read (1 MiB). Anything bigger is refused unread.
pub const MAX_RECORD_BYTES: u64 = 1024 * 1024;

/// The only `schema_version` this harness understands.
pub(crate) const SCHEMA_VERSION: u64 = 1;

/// The work item that owns both the decision and the admission (the seed's `CTO-WORK-020`).
pub(crate) const OWNING_WORK_ITEM: &str = "CTO-WORK-020";

/// A string that must be present and non-empty; kept verbatim (no trimming, no case folding).
#[derive(Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub(crate) struct NonEmptyString(String);

impl NonEmptyString {
    /// The value exactly as written in the record.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for NonEmptyString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for NonEmptyString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for NonEmptyString {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = String::deserialize(deserializer)?;
        if value.is_empty() {
            return Err(serde::de::Error::custom("must not be an empty string"));
        }
        Ok(NonEmptyString(value))
    }
}

/// `schema_version`, when present, must be exactly [`SCHEMA_VERSION`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub(crate) struct SchemaVersion(u64);

impl<'de> Deserialize<'de> for SchemaVersion {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = u64::deserialize(deserializer)?;
        if value != SCHEMA_VERSION {
            return Err(serde::de::Error::custom(format!(
                "unsupported schema_version {value}, expected {SCHEMA_VERSION}"
            )));
        }
        Ok(SchemaVersion(value))
    }
}

/// The CTO-WORK-020 decision: which kind of provider Case's Stage 2 must use.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DecisionRecord {
    /// Work item that made the decision; must be [`OWNING_WORK_ITEM`].
    pub work_item: NonEmptyString,
    /// `local_provider_required` opens the route; anything else keeps it closed.
    pub decision_status: NonEmptyString,
    /// Provider class the decision requires; the route needs `local_case_compatible`.
    pub provider_class: NonEmptyString,
    /// Optional format version (only `1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_version: Option<SchemaVersion>,
    /// Optional time of the decision, kept as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<NonEmptyString>,
    /// Optional free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<NonEmptyString>,
}

/// Where CTO-WORK-020 stands on the model: only `admitted` admits; `candidate` lets Stage 2
/// run to gather evidence; `rejected` and `revoked` block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AdmissionStatus {
    /// Stage 2 may run to gather evidence; a pass admits nothing.
    Candidate,
    /// CTO-WORK-020 has admitted the provider/model.
    Admitted,
    /// CTO-WORK-020 rejected the provider/model.
    Rejected,
    /// An earlier admission was withdrawn.
    Revoked,
}

impl AdmissionStatus {
    /// The status exactly as it is spelled in the record.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            AdmissionStatus::Candidate => "candidate",
            AdmissionStatus::Admitted => "admitted",
            AdmissionStatus::Rejected => "rejected",
            AdmissionStatus::Revoked => "revoked",
        }
    }
}

/// The CTO-WORK-020 admission of one provider/model. Owned by CTO-WORK-020: read, never written.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AdmissionRecord {
    /// Work item that owns the admission; must match the decision record.
    pub work_item: NonEmptyString,
    /// Must match the decision record.
    pub decision_status: NonEmptyString,
    /// Must match the decision record.
    pub provider_class: NonEmptyString,
    /// The local provider software, e.g. `llama.cpp`.
    pub case_model_provider: NonEmptyString,
    /// The one model name the adapter will forward.
    pub case_model: NonEmptyString,
    /// Where the admission stands.
    pub case_model_admission_status: AdmissionStatus,
    /// Optional format version (only `1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_version: Option<SchemaVersion>,
    /// Optional sha256 of the model file, compared with the file when it is local.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_sha256: Option<NonEmptyString>,
    /// Optional time of admission, kept as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admitted_at: Option<NonEmptyString>,
    /// Optional free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<NonEmptyString>,
}

/// A record together with the exact bytes it was parsed from (for digests and
/// "unchanged after the run" proofs).
#[derive(Clone, Debug)]
pub(crate) struct LoadedRecord<T> {
    /// Where it was read from.
    pub path: PathBuf,
    /// The parsed record.
    pub record: T,
    /// sha256 of the bytes read, lowercase hex.
    pub sha256: String,
    /// The exact bytes parsed (copied into the run folder, so `verify` can re-read them).
    pub bytes: Vec<u8>,
}

/// Why a record could not be read. Every variant names the file; schema errors name the field.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The path does not exist.
    #[error("{path}: file not found")]
    Missing {
        /// The path that was given.
        path: PathBuf,
    },
    /// The path is a directory or other non-file.
    #[error("{path}: not a regular file")]
    NotAFile {
        /// The path that was given.
        path: PathBuf,
    },
    /// Bigger than [`MAX_RECORD_BYTES`].
    #[error("{path}: file is larger than {MAX_RECORD_BYTES} bytes")]
    TooLarge {
        /// The path that was given.
        path: PathBuf,
    },
    /// Any other I/O failure.
    #[error("{path}: cannot read: {source}")]
    Io {
        /// The path that was given.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Not valid UTF-8.
    #[error("{path}: not valid UTF-8 (byte offset {offset})")]
    NotUtf8 {
        /// The path that was given.
        path: PathBuf,
        /// First invalid byte.
        offset: usize,
    },
    /// Not JSON, or JSON that does not fit the schema.
    #[error("{path}: field `{field}`: {message} (line {line}, column {column})")]
    Schema {
        /// The path that was given.
        path: PathBuf,
        /// Dotted path of the offending field (`.` for the whole document).
        field: String,
        /// What is wrong, from the parser.
        message: String,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
    },
    /// Parsed, but a value is not allowed.
    #[error("{path}: field `{field}`: {message}")]
    Value {
        /// The path that was given.
        path: PathBuf,
        /// The offending field.
        field: &'static str,
        /// What is wrong and what to do.
        message: String,
    },
}

impl RecordError {
    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            RecordError::Missing { path }
            | RecordError::NotAFile { path }
            | RecordError::TooLarge { path }
            | RecordError::Io { path, .. }
            | RecordError::NotUtf8 { path, .. }
            | RecordError::Schema { path, .. }
            | RecordError::Value { path, .. } => path,
        }
    }
}

/// Reads a small input file (record, task, SOT) with the same refusals as the records:
/// missing, not a regular file, over [`MAX_RECORD_BYTES`], unreadable.
pub(crate) fn read_bounded(path: &Path) -> Result<Vec<u8>, RecordError> {
    use crate::guarded_files::{FinalSymlink, RunFileError, read_guarded};
    // A record may be a symlink the user made; what it leads to is judged on the descriptor.
    read_guarded(path, MAX_RECORD_BYTES, FinalSymlink::Follow).map_err(|err| match err {
        RunFileError::Missing { path } => RecordError::Missing { path },
        RunFileError::NotRegular { path, .. } => RecordError::NotAFile { path },
        RunFileError::TooLarge { path, .. } => RecordError::TooLarge { path },
        RunFileError::Io { path, source } => RecordError::Io { path, source },
    })
}

/// sha256 of `bytes` as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

fn parse_strict<T: serde::de::DeserializeOwned>(path: &Path, bytes: &[u8]) -> Result<T, RecordError> {
    let text = std::str::from_utf8(bytes).map_err(|err| RecordError::NotUtf8 {
        path: path.to_owned(),
        offset: err.valid_up_to(),
    })?;
    if text.trim().is_empty() {
        return Err(RecordError::Value {
            path: path.to_owned(),
            field: ".",
            message: "empty file: it must hold one JSON object (the record)".to_owned(),
        });
    }
    if text.starts_with('\u{FEFF}') {
        return Err(RecordError::Value {
            path: path.to_owned(),
            field: ".",
            message: "the file starts with a UTF-8 byte-order mark (BOM), which JSON does not allow; save it as UTF-8 without BOM".to_owned(),
        });
    }
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let value: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let field = err.path().to_string();
        let inner = err.into_inner();
        RecordError::Schema {
            path: path.to_owned(),
            field,
            message: strip_position(&inner),
            line: inner.line(),
            column: inner.column(),
        }
    })?;
    // Trailing content after the object ("{...} {...}") is not one record.
    deserializer.end().map_err(|err| RecordError::Schema {
        path: path.to_owned(),
        field: ".".to_owned(),
        message: strip_position(&err),
        line: err.line(),
        column: err.column(),
    })?;
    Ok(value)
}

/// serde_json appends " at line L column C"; we report those separately.
fn strip_position(err: &serde_json::Error) -> String {
    let text = err.to_string();
    match text.rfind(" at line ") {
        Some(index) => text[..index].to_owned(),
        None => text,
    }
}

impl DecisionRecord {
    /// Reads and strictly parses a decision record.
    pub(crate) fn load(path: &Path) -> Result<LoadedRecord<DecisionRecord>, RecordError> {
        Self::from_bytes(path, read_bounded(path)?)
    }

    /// Strictly parses a decision record already read; `path` is used in errors.
    pub(crate) fn from_bytes(path: &Path, bytes: Vec<u8>) -> Result<LoadedRecord<DecisionRecord>, RecordError> {
        let record: DecisionRecord = parse_strict(path, &bytes)?;
        if record.work_item.as_str() != OWNING_WORK_ITEM {
            return Err(RecordError::Value {
                path: path.to_owned(),
                field: "work_item",
                message: format!(
                    "is {:?}, but the decision record must be {OWNING_WORK_ITEM}'s decision",
                    record.work_item.as_str()
                ),
            });
        }
        Ok(LoadedRecord {
            path: path.to_owned(),
            record,
            sha256: sha256_hex(&bytes),
            bytes,
        })
    }
}

impl AdmissionRecord {
    /// Reads and strictly parses an admission record.
    pub(crate) fn load(path: &Path) -> Result<LoadedRecord<AdmissionRecord>, RecordError> {
        Self::from_bytes(path, read_bounded(path)?)
    }

    /// Strictly parses an admission record already read; `path` is used in errors.
    pub(crate) fn from_bytes(path: &Path, bytes: Vec<u8>) -> Result<LoadedRecord<AdmissionRecord>, RecordError> {
        let record: AdmissionRecord = parse_strict(path, &bytes)?;
        if let Some(digest) = &record.model_sha256 {
            let digest = digest.as_str();
            if digest.len() != 64 || !digest.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
                return Err(RecordError::Value {
                    path: path.to_owned(),
                    field: "model_sha256",
                    message: format!("is {digest:?}; expected 64 lowercase hex digits"),
                });
            }
        }
        Ok(LoadedRecord {
            path: path.to_owned(),
            record,
            sha256: sha256_hex(&bytes),
            bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &tempfile::TempDir, name: &str, text: &[u8]) -> PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write fixture");
        path
    }

    const DECISION: &str = r#"{"work_item":"CTO-WORK-020","decision_status":"local_provider_required","provider_class":"local_case_compatible"}"#;

    #[test]
    fn reads_a_minimal_decision_exactly() {
        let dir = tempfile::tempdir().expect("tempdir");
        let loaded = DecisionRecord::load(&write(&dir, "d.json", DECISION.as_bytes())).expect("valid");
        assert_eq!(loaded.record.decision_status.as_str(), "local_provider_required");
        assert_eq!(loaded.sha256, sha256_hex(DECISION.as_bytes()));
    }

    fn schema_error(text: &str) -> (String, String) {
        let dir = tempfile::tempdir().expect("tempdir");
        match DecisionRecord::load(&write(&dir, "d.json", text.as_bytes())) {
            Err(RecordError::Schema { field, message, .. }) => (field, message),
            other => panic!("expected a schema error, got {other:?}"),
        }
    }

    #[test]
    fn duplicate_key_is_refused_and_named() {
        let (_, message) = schema_error(
            r#"{"work_item":"CTO-WORK-020","decision_status":"pending","decision_status":"local_provider_required","provider_class":"local_case_compatible"}"#,
        );
        assert!(message.contains("duplicate field `decision_status`"), "{message}");
    }

    #[test]
    fn unknown_field_is_refused_and_named() {
        let (_, message) = schema_error(&DECISION.replace('}', r#","fallback":"x"}"#));
        assert!(message.contains("unknown field `fallback`"), "{message}");
    }

    #[test]
    fn wrong_type_names_the_field() {
        let (field, _) = schema_error(&DECISION.replace(r#""local_case_compatible""#, "7"));
        assert_eq!(field, "provider_class");
    }

    #[test]
    fn empty_string_names_the_field() {
        let (field, message) = schema_error(&DECISION.replace("local_case_compatible", ""));
        assert_eq!(field, "provider_class");
        assert!(message.contains("empty"), "{message}");
    }

    #[test]
    fn trailing_document_is_refused() {
        schema_error(&format!("{DECISION} {DECISION}"));
    }

    #[test]
    fn schema_version_other_than_one_is_refused() {
        let (field, _) = schema_error(&DECISION.replace('}', r#","schema_version":2}"#));
        assert_eq!(field, "schema_version");
    }

    #[test]
    fn decision_for_another_work_item_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write(
            &dir,
            "d.json",
            DECISION.replace("CTO-WORK-020", "CTO-WORK-019").as_bytes(),
        );
        assert!(matches!(
            DecisionRecord::load(&path),
            Err(RecordError::Value { field: "work_item", .. })
        ));
    }

    #[test]
    fn file_level_refusals() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(matches!(
            DecisionRecord::load(&dir.path().join("absent.json")),
            Err(RecordError::Missing { .. })
        ));
        assert!(matches!(
            DecisionRecord::load(dir.path()),
            Err(RecordError::NotAFile { .. })
        ));
        let big = write(&dir, "big.json", &vec![b' '; MAX_RECORD_BYTES as usize + 1]);
        assert!(matches!(DecisionRecord::load(&big), Err(RecordError::TooLarge { .. })));
        let latin1 = write(&dir, "latin1.json", b"{\"notes\":\"caf\xe9\"}");
        assert!(matches!(
            DecisionRecord::load(&latin1),
            Err(RecordError::NotUtf8 { offset: 13, .. })
        ));
    }

    #[test]
    fn admission_status_outside_the_known_set_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = r#"{"work_item":"CTO-WORK-020","decision_status":"local_provider_required","provider_class":"local_case_compatible","case_model_provider":"llama.cpp","case_model":"m","case_model_admission_status":"Admitted"}"#;
        match AdmissionRecord::load(&write(&dir, "a.json", text.as_bytes())) {
            Err(RecordError::Schema { field, .. }) => assert_eq!(field, "case_model_admission_status"),
            other => panic!("expected schema error, got {other:?}"),
        }
    }

    /// An empty (or blank) record says "empty file", not the parser's `EOF while parsing`.
    #[test]
    fn an_empty_record_says_it_is_empty() {
        for bytes in [&b""[..], b"  \n"] {
            let err = DecisionRecord::from_bytes(Path::new("decision.json"), bytes.to_vec()).expect_err("empty");
            assert_eq!(
                err.to_string(),
                "decision.json: field `.`: empty file: it must hold one JSON object (the record)"
            );
        }
    }

    /// Red-team low finding: a record with a BOM is refused with a message that says so.
    #[test]
    fn a_byte_order_mark_is_refused_by_name() {
        let text = "\u{FEFF}{\"work_item\":\"CTO-WORK-020\",\"decision_status\":\"local_provider_required\",\"provider_class\":\"local_case_compatible\"}";
        let err = DecisionRecord::from_bytes(Path::new("decision.json"), text.as_bytes().to_vec()).expect_err("BOM");
        assert!(err.to_string().contains("byte-order mark (BOM)"), "{err}");
    }
}
