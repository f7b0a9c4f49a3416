//! What checking a signed envelope found: one typed finding per problem, naming the envelope
//! file and the field (`payloadType`, `subject`, `predicate`…) or the subject file. The CLI
//! renders them with `Display`, whose text is the one the checks have always printed.

use std::path::PathBuf;

use serde_json::Value;

use super::{MAX_ENVELOPE_BYTES, PAYLOAD_TYPE, PREDICATE_TYPE, STATEMENT_TYPE};

/// One reason a signed envelope, or the folder it signs, does not verify.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AttestationFinding {
    /// No envelope at the path.
    #[error("{}: no signed attestation ({source}); sign with {} set", path.display(), crate::signing::ENV_SIGNING_KEY)]
    NoEnvelope {
        /// The envelope file.
        path: PathBuf,
        /// What the file system said.
        #[source]
        source: std::io::Error,
    },
    /// The envelope is larger than the bound on envelopes (`MAX_ENVELOPE_BYTES`, 16 MiB).
    #[error("{}: larger than {MAX_ENVELOPE_BYTES} bytes", path.display())]
    EnvelopeTooLarge {
        /// The envelope file.
        path: PathBuf,
    },
    /// The envelope could not be read, or is not a regular file.
    #[error("{}: {source}", path.display())]
    EnvelopeUnreadable {
        /// The envelope file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The envelope is not DSSE JSON.
    #[error("{}: not a DSSE envelope: {source}", path.display())]
    NotAnEnvelope {
        /// The envelope file.
        path: PathBuf,
        /// Why it does not parse.
        #[source]
        source: serde_json::Error,
    },
    /// `payloadType` is not the in-toto one.
    #[error("{}: payloadType is {found:?}, expected {PAYLOAD_TYPE:?}", path.display())]
    PayloadType {
        /// The envelope file.
        path: PathBuf,
        /// Its `payloadType`.
        found: String,
    },
    /// `payload` is not base64.
    #[error("{}: payload is not base64: {source}", path.display())]
    PayloadNotBase64 {
        /// The envelope file.
        path: PathBuf,
        /// The decoder's error.
        #[source]
        source: base64::DecodeError,
    },
    /// No entry of `signatures` verifies with the key.
    #[error(
        "{}: no signature by key {keyid} verifies (signatures claim key ids {claimed:?}); the evidence was not signed by this key, or was changed after signing",
        path.display()
    )]
    NotSignedByKey {
        /// The envelope file.
        path: PathBuf,
        /// The key's id.
        keyid: String,
        /// The key ids the signatures claim.
        claimed: Vec<String>,
    },
    /// The decoded `payload` is not JSON.
    #[error("{}: payload is not JSON: {source}", path.display())]
    PayloadNotJson {
        /// The envelope file.
        path: PathBuf,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// The statement's `_type` or `predicateType` is not ours.
    #[error(
        "{}: statement _type {statement_type:?} / predicateType {predicate_type:?}, expected {STATEMENT_TYPE:?} / {PREDICATE_TYPE:?}",
        path.display()
    )]
    StatementType {
        /// The envelope file.
        path: PathBuf,
        /// The statement's `_type`.
        statement_type: Option<String>,
        /// The statement's `predicateType`.
        predicate_type: Option<String>,
    },
    /// A `subject` name is listed twice.
    #[error("{}: subject {name} is listed twice", path.display())]
    SubjectTwice {
        /// The envelope file.
        path: PathBuf,
        /// The subject's `name`.
        name: String,
    },
    /// A `subject` entry has no safe `name` or no `digest.sha256`.
    #[error("{}: subject {subject} has no safe name or no sha256 digest", path.display())]
    SubjectMalformed {
        /// The envelope file.
        path: PathBuf,
        /// The entry.
        subject: Value,
    },
    /// `subject` is empty.
    #[error("{}: the statement has no subjects", path.display())]
    NoSubjects {
        /// The envelope file.
        path: PathBuf,
    },
    /// A signed file's content differs from its subject digest.
    #[error("{name} changed since it was signed (sha256 differs)")]
    SubjectChanged {
        /// The file, relative to the signed folder.
        name: String,
    },
    /// A signed file cannot be read (gone, or no longer a regular file).
    #[error("{name} was signed but is missing: {source}")]
    SubjectMissing {
        /// The file, relative to the signed folder.
        name: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file in the folder is not among the subjects.
    #[error("{name} is in the folder but was not signed")]
    Unsigned {
        /// The file, relative to the signed folder.
        name: String,
    },
    /// The folder could not be digested.
    #[error(transparent)]
    Tree(super::AttestationError),
    /// The report is not among the subjects.
    #[error("the signed statement does not cover {name}")]
    ReportNotCovered {
        /// The report, relative to the run folder.
        name: String,
    },
    /// The signed `predicate` is not what the report says.
    #[error("the signed predicate differs from what the report says")]
    PredicateDiffers,
    /// The report could not be read to compare it with the predicate.
    #[error("{}: {reason}", path.display())]
    ReportUnreadable {
        /// The report file.
        path: PathBuf,
        /// Why, in words.
        reason: String,
    },
}
