//! Signed evidence: an in-toto Statement v1 in a DSSE envelope, signed with Ed25519.
//!
//! The seal (see [`crate::evidence`]) proves that a report and its folder agree; anyone can
//! write a consistent folder and reseal it. The envelope adds *who*: its subjects are the
//! sha256 of every file in the folder (report, trace, ledger, JUnit, inputs, Case's output),
//! its predicate is the in-toto Test Result predicate
//! (`https://in-toto.io/attestation/test-result/v0.1`) extended under `case_harness` with the
//! facts reviewers ask for (provider, model, admission status, fallback proof, upstream
//! fingerprint, isolation), and the signature covers DSSE's pre-authentication encoding of
//! the payload, so policy engines and `securesystemslib` verify it without our code.
//!
//! We sign with `ed25519-dalek` and write the envelope ourselves (the DSSE wire format is
//! four fields and a one-line encoding); see docs/decisions.md for why not the `dsse` crate.
//! Verification is strict and ordered: the signature first, then every subject digest against
//! the bytes on disk, then that no file was added, then that the predicate is exactly what the
//! (verified) report says — and only then the consistency checks of `verify`.

use std::collections::BTreeMap;
use std::path::{Component, Path};

use base64::Engine as _;
use serde_json::{Value, json};

use crate::output::{
    EvidenceKind, FallbackProof, GateCode, Isolation, Report, RunOutcome, SamplingPin, Seal, UpstreamFingerprint,
};
use crate::records::AdmissionStatus;
use crate::signing::{EvidenceKey, EvidenceSigner};

mod finding;

pub use finding::AttestationFinding;

/// The envelope's file name, in a run folder and at the top of an evidence folder.
pub(crate) use crate::run_folder::ENVELOPE;
/// DSSE payload type of an in-toto Statement.
pub(crate) const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// in-toto Statement v1.
pub(crate) const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// The in-toto Test Result predicate.
pub(crate) const PREDICATE_TYPE: &str = "https://in-toto.io/attestation/test-result/v0.1";
/// Envelopes larger than this are refused unread (an evidence bundle lists a few hundred files).
pub(crate) const MAX_ENVELOPE_BYTES: u64 = 16 * 1024 * 1024;

/// The report's facts the predicate's `case_harness` extension carries (beside `kind`), by
/// field: a report field renamed or retyped cannot silently drop out of what is signed.
#[derive(serde::Serialize)]
struct ReportFacts<'a> {
    harness_version: &'a str,
    outcome: RunOutcome,
    reasons: &'a [String],
    evidence_kind: EvidenceKind,
    case_model_provider: &'a Option<String>,
    case_model: &'a Option<String>,
    case_model_admission_status: Option<AdmissionStatus>,
    upstream: &'a Option<String>,
    upstream_fingerprint: &'a Option<UpstreamFingerprint>,
    blocked: &'a [GateCode],
    case_process_started: bool,
    fallback_proof: &'a Option<FallbackProof>,
    isolation: &'a Option<Isolation>,
    /// Absent when nothing was pinned, so statements of unpinned runs read as they always did.
    #[serde(skip_serializing_if = "Option::is_none")]
    sampling: &'a Option<SamplingPin>,
    seal: &'a Option<Seal>,
}

impl<'a> ReportFacts<'a> {
    fn of(report: &'a Report) -> Self {
        ReportFacts {
            harness_version: &report.harness_version,
            outcome: report.outcome,
            reasons: &report.reasons,
            evidence_kind: report.evidence_kind,
            case_model_provider: &report.case_model_provider,
            case_model: &report.case_model,
            case_model_admission_status: report.case_model_admission_status,
            upstream: &report.upstream,
            upstream_fingerprint: &report.upstream_fingerprint,
            blocked: &report.blocked,
            case_process_started: report.case_process_started,
            fallback_proof: &report.fallback_proof,
            isolation: &report.isolation,
            sampling: &report.sampling,
            seal: &report.seal,
        }
    }
}

/// A DSSE envelope (the JSON form every DSSE implementation reads).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Envelope {
    /// Always [`PAYLOAD_TYPE`].
    pub payload_type: String,
    /// The Statement's bytes, standard base64.
    pub payload: String,
    /// One or more signatures over the PAE.
    pub signatures: Vec<EnvelopeSignature>,
}

/// One DSSE signature.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EnvelopeSignature {
    /// securesystemslib's key id of the signing key.
    #[serde(default)]
    pub keyid: String,
    /// The signature, standard base64.
    pub sig: String,
}

/// Why an envelope could not be written.
#[derive(Debug, thiserror::Error)]
pub enum AttestationError {
    /// Reading a subject or writing the envelope failed.
    #[error(transparent)]
    Io(#[from] crate::path_io::PathIoError),
    /// Serialising the statement failed.
    #[error("cannot serialise the attestation: {0}")]
    Json(#[from] serde_json::Error),
    /// Writing atomically failed.
    #[error(transparent)]
    Evidence(#[from] crate::evidence::EvidenceError),
    /// A subject could not be read (or was replaced by a non-regular file while listed).
    #[error(transparent)]
    Subject(#[from] crate::guarded_files::RunFileError),
}

/// DSSE v1 pre-authentication encoding: `DSSEv1 LEN(type) type LEN(body) body`.
pub(crate) fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!("DSSEv1 {} {} {} ", payload_type.len(), payload_type, payload.len()).into_bytes();
    out.extend_from_slice(payload);
    out
}

/// Signs `statement` into an envelope.
pub(crate) fn sign(statement: &Value, signer: &EvidenceSigner) -> Result<Envelope, AttestationError> {
    let payload = serde_json::to_vec(statement)?;
    let signature = signer.sign(&pae(PAYLOAD_TYPE, &payload));
    let b64 = base64::engine::general_purpose::STANDARD;
    Ok(Envelope {
        payload_type: PAYLOAD_TYPE.to_owned(),
        payload: b64.encode(&payload),
        signatures: vec![EnvelopeSignature {
            keyid: signer.keyid().to_owned(),
            sig: b64.encode(signature.to_bytes()),
        }],
    })
}

/// sha256 of every regular file under `dir` (relative names with `/`), except the folder's
/// own envelope. (Symlinks and other special files are refused by `verify` itself.)
pub(crate) fn digest_tree(dir: &Path) -> Result<BTreeMap<String, String>, AttestationError> {
    let io = crate::path_io::at;
    let mut digests = BTreeMap::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).map_err(io(&current))? {
            let entry = entry.map_err(io(&current))?;
            let path = entry.path();
            let file_type = entry.file_type().map_err(io(&path))?;
            if file_type.is_dir() {
                pending.push(path);
                continue;
            }
            let name = crate::guarded_files::relative_name(dir, &path);
            if !file_type.is_file() || name == ENVELOPE {
                continue;
            }
            digests.insert(name, crate::guarded_files::sha256_streamed(&path)?);
        }
    }
    Ok(digests)
}

/// A Statement over `subjects` with the Test Result predicate `predicate`.
pub(crate) fn statement(subjects: &BTreeMap<String, String>, predicate: Value) -> Value {
    let subject: Vec<Value> = subjects
        .iter()
        .map(|(name, digest)| json!({ "name": name, "digest": { "sha256": digest } }))
        .collect();
    json!({
        "_type": STATEMENT_TYPE,
        "subject": subject,
        "predicateType": PREDICATE_TYPE,
        "predicate": predicate,
    })
}

/// The Test Result predicate for one run: its test is the run's JUnit testcase, its
/// configuration the inputs the run read, its extension the report's facts.
pub(crate) fn run_predicate(report: &Report) -> Result<Value, AttestationError> {
    let name = crate::junit::run_case_name(report);
    let passed = report.outcome == RunOutcome::Pass;
    let configuration: Vec<Value> = report
        .inputs
        .iter()
        .map(|(role, digest)| json!({ "name": role, "digest": { "sha256": digest.sha256 } }))
        .collect();
    let mut extension = serde_json::to_value(ReportFacts::of(report))?;
    if let Value::Object(map) = &mut extension {
        map.insert("kind".to_owned(), Value::from("run"));
    }
    Ok(json!({
        "result": if passed { "PASSED" } else { "FAILED" },
        "configuration": configuration,
        "passedTests": if passed { vec![name] } else { Vec::new() },
        "warnedTests": Vec::<&str>::new(),
        "failedTests": if passed { Vec::new() } else { vec![name] },
        "case_harness": extension,
    }))
}

/// Signs a sealed run folder: writes `attestation.dsse.json` over every file in it.
pub(crate) fn attest_run(run_dir: &Path, report: &Report, signer: &EvidenceSigner) -> Result<(), AttestationError> {
    let subjects = digest_tree(run_dir)?;
    let envelope = sign(&statement(&subjects, run_predicate(report)?), signer)?;
    write_envelope(&run_dir.join(ENVELOPE), &envelope)
}

/// Writes an envelope atomically.
pub(crate) fn write_envelope(path: &Path, envelope: &Envelope) -> Result<(), AttestationError> {
    let mut bytes = serde_json::to_vec_pretty(envelope)?;
    bytes.push(b'\n');
    crate::path_io::write_atomically(path, &bytes)?;
    Ok(())
}

/// A verified envelope's statement and its subjects.
#[derive(Debug)]
pub(crate) struct OpenedEnvelope {
    /// The statement.
    pub statement: Value,
    /// Subjects, name → sha256.
    pub subjects: BTreeMap<String, String>,
    /// The key id that verified it.
    pub keyid: String,
}

/// Reads `path`, checks the payload type and that `key` signed it, and parses the Statement.
pub(crate) fn open(path: &Path, key: &EvidenceKey) -> Result<OpenedEnvelope, AttestationFinding> {
    let envelope = read_envelope(path)?;
    let payload = signed_payload(path, &envelope, key)?;
    let statement: Value = serde_json::from_slice(&payload).map_err(|source| AttestationFinding::PayloadNotJson {
        path: path.to_owned(),
        source,
    })?;
    let field = |name: &str| statement.get(name).and_then(Value::as_str);
    if field("_type") != Some(STATEMENT_TYPE) || field("predicateType") != Some(PREDICATE_TYPE) {
        return Err(AttestationFinding::StatementType {
            path: path.to_owned(),
            statement_type: field("_type").map(str::to_owned),
            predicate_type: field("predicateType").map(str::to_owned),
        });
    }
    let subjects = subjects_of(path, &statement)?;
    Ok(OpenedEnvelope {
        statement,
        subjects,
        keyid: key.keyid().to_owned(),
    })
}

/// The envelope file, through the guarded open (a FIFO or device in its place is refused,
/// never read), bounded by [`MAX_ENVELOPE_BYTES`].
fn read_envelope(path: &Path) -> Result<Envelope, AttestationFinding> {
    use crate::guarded_files::{FinalSymlink, RunFileError, read_guarded};
    let bytes = read_guarded(path, MAX_ENVELOPE_BYTES, FinalSymlink::Follow).map_err(|err| match err {
        RunFileError::Missing { .. } => AttestationFinding::NoEnvelope {
            path: path.to_owned(),
            source: err.into(),
        },
        RunFileError::TooLarge { .. } => AttestationFinding::EnvelopeTooLarge { path: path.to_owned() },
        other => AttestationFinding::EnvelopeUnreadable {
            path: path.to_owned(),
            source: other.into(),
        },
    })?;
    serde_json::from_slice(&bytes).map_err(|source| AttestationFinding::NotAnEnvelope {
        path: path.to_owned(),
        source,
    })
}

/// The payload, once its type is ours and a signature by `key` covers it.
fn signed_payload(path: &Path, envelope: &Envelope, key: &EvidenceKey) -> Result<Vec<u8>, AttestationFinding> {
    if envelope.payload_type != PAYLOAD_TYPE {
        return Err(AttestationFinding::PayloadType {
            path: path.to_owned(),
            found: envelope.payload_type.clone(),
        });
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let payload = b64
        .decode(&envelope.payload)
        .map_err(|source| AttestationFinding::PayloadNotBase64 {
            path: path.to_owned(),
            source,
        })?;
    let message = pae(&envelope.payload_type, &payload);
    let signed = envelope
        .signatures
        .iter()
        .any(|signature| b64.decode(&signature.sig).is_ok_and(|sig| key.verifies(&message, &sig)));
    if !signed {
        return Err(AttestationFinding::NotSignedByKey {
            path: path.to_owned(),
            keyid: key.keyid().to_owned(),
            claimed: envelope.signatures.iter().map(|s| s.keyid.clone()).collect(),
        });
    }
    Ok(payload)
}

/// The statement's `subject` list as name → sha256: every name safe and listed once.
fn subjects_of(path: &Path, statement: &Value) -> Result<BTreeMap<String, String>, AttestationFinding> {
    let mut subjects = BTreeMap::new();
    for subject in statement.get("subject").and_then(Value::as_array).into_iter().flatten() {
        let name = subject.get("name").and_then(Value::as_str);
        let digest = subject.pointer("/digest/sha256").and_then(Value::as_str);
        match (name, digest) {
            (Some(name), Some(digest)) if is_safe_relative(name) => {
                if subjects.insert(name.to_owned(), digest.to_owned()).is_some() {
                    return Err(AttestationFinding::SubjectTwice {
                        path: path.to_owned(),
                        name: name.to_owned(),
                    });
                }
            }
            _ => {
                return Err(AttestationFinding::SubjectMalformed {
                    path: path.to_owned(),
                    subject: subject.clone(),
                });
            }
        }
    }
    if subjects.is_empty() {
        return Err(AttestationFinding::NoSubjects { path: path.to_owned() });
    }
    Ok(subjects)
}

/// Every difference between the signed subjects and the files in `dir` now. Each subject is
/// read through the guarded open (streamed, never following a final symlink), as it was
/// digested when signed.
pub(crate) fn check_subjects(dir: &Path, subjects: &BTreeMap<String, String>) -> Vec<AttestationFinding> {
    let mut problems = Vec::new();
    for (name, digest) in subjects {
        match crate::guarded_files::sha256_streamed(&dir.join(name)) {
            Ok(actual) if actual == *digest => {}
            Ok(_) => problems.push(AttestationFinding::SubjectChanged { name: name.clone() }),
            Err(err) => problems.push(AttestationFinding::SubjectMissing {
                name: name.clone(),
                source: err.into(),
            }),
        }
    }
    match digest_tree(dir) {
        Ok(present) => {
            for name in present.keys().filter(|name| !subjects.contains_key(*name)) {
                problems.push(AttestationFinding::Unsigned { name: name.clone() });
            }
        }
        Err(err) => problems.push(AttestationFinding::Tree(err)),
    }
    problems
}

/// Checks a run folder's envelope with `key`: signature, every subject, no added file, and
/// that the signed predicate is what the report on disk says. The report's own consistency is
/// checked separately by [`crate::evidence::verify`].
pub(crate) fn verify_run(report_path: &Path, key: &EvidenceKey) -> Result<String, Vec<AttestationFinding>> {
    let run_dir = report_path.parent().unwrap_or(Path::new("."));
    let opened = open(&run_dir.join(ENVELOPE), key).map_err(|problem| vec![problem])?;
    let mut problems = check_subjects(run_dir, &opened.subjects);
    let report_name = crate::guarded_files::relative_name(run_dir, report_path);
    if !opened.subjects.contains_key(&report_name) {
        problems.push(AttestationFinding::ReportNotCovered { name: report_name });
    }
    if problems.is_empty() {
        let report = crate::guarded_files::read_bounded(report_path, crate::guarded_files::MAX_SMALL_FILE_BYTES)
            .map_err(|err| std::io::Error::from(err).to_string())
            .and_then(|bytes| serde_json::from_slice::<Report>(&bytes).map_err(|err| err.to_string()))
            .and_then(|report| run_predicate(&report).map_err(|err| err.to_string()));
        match report {
            Ok(predicate) if opened.statement.get("predicate") == Some(&predicate) => {}
            Ok(_) => problems.push(AttestationFinding::PredicateDiffers),
            Err(reason) => problems.push(AttestationFinding::ReportUnreadable {
                path: report_path.to_owned(),
                reason,
            }),
        }
    }
    if problems.is_empty() {
        Ok(opened.keyid)
    } else {
        Err(problems)
    }
}

fn is_safe_relative(name: &str) -> bool {
    !name.is_empty()
        && Path::new(name)
            .components()
            .all(|component| matches!(component, Component::Normal(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_is_the_dsse_v1_encoding() {
        // The example from the DSSE protocol description.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ".to_vec());
    }

    #[test]
    fn the_extension_carries_the_report_fields_it_always_did() {
        let dir = tempfile::tempdir().expect("tempdir");
        crate::evidence::write_placeholder(dir.path(), EvidenceKind::Simulated).expect("placeholder");
        let bytes = std::fs::read(dir.path().join("report.json")).expect("report");
        let mut report: Report = serde_json::from_slice(&bytes).expect("typed");
        report.case_model = Some("m".to_owned());
        report.case_model_admission_status = Some(AdmissionStatus::Candidate);
        report.isolation = Some(Isolation::confined(1000, "namespaces"));
        report.blocked = vec![GateCode::AdmittedModelNotServed];
        report.seal = Some(Seal {
            algorithm: "a".to_owned(),
            digest: "d".to_owned(),
        });
        // The report fields the predicate carried when it copied them by name.
        let carried = [
            "harness_version",
            "outcome",
            "reasons",
            "evidence_kind",
            "case_model_provider",
            "case_model",
            "case_model_admission_status",
            "upstream",
            "upstream_fingerprint",
            "blocked",
            "case_process_started",
            "fallback_proof",
            "isolation",
            "seal",
        ];
        let full = serde_json::to_value(&report).expect("report");
        let mut expected: serde_json::Map<String, Value> = carried
            .iter()
            .map(|key| ((*key).to_owned(), full[*key].clone()))
            .collect();
        expected.insert("kind".to_owned(), Value::from("run"));
        let predicate = run_predicate(&report).expect("predicate");
        assert_eq!(predicate["case_harness"], Value::Object(expected));
    }

    fn key_pair(dir: &Path) -> (EvidenceSigner, EvidenceKey) {
        std::fs::create_dir_all(dir.join("keys")).expect("keys");
        let key = dir.join("keys/k");
        let generated = crate::signing::keygen(&key).expect("keygen");
        (
            EvidenceSigner::load(&key, &dir.join("elsewhere")).expect("signer"),
            EvidenceKey::load(&generated.public_path).expect("public"),
        )
    }

    #[test]
    fn an_envelope_opens_only_with_its_key_and_only_unchanged() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (signer, key) = key_pair(dir.path());
        let other = tempfile::tempdir().expect("tempdir");
        let (_, other_key) = key_pair(other.path());
        let subjects = BTreeMap::from([("a.txt".to_owned(), crate::records::sha256_hex(b"a"))]);
        let envelope = sign(&statement(&subjects, json!({"result": "PASSED"})), &signer).expect("sign");
        let path = dir.path().join(ENVELOPE);
        write_envelope(&path, &envelope).expect("write");
        let opened = open(&path, &key).expect("opens");
        assert_eq!(opened.subjects, subjects);
        assert_eq!(opened.keyid, key.keyid());
        let error = open(&path, &other_key).expect_err("other key");
        assert!(
            matches!(&error, AttestationFinding::NotSignedByKey { keyid, .. } if keyid == other_key.keyid()),
            "{error}"
        );
        assert!(error.to_string().contains("no signature by key"), "{error}");

        // One payload byte changed: the signature no longer covers it.
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut payload = b64.decode(&envelope.payload).expect("b64");
        let at = payload.iter().position(|b| *b == b'P').expect("a P");
        payload[at] = b'F';
        let tampered = Envelope {
            payload: b64.encode(&payload),
            ..envelope
        };
        write_envelope(&path, &tampered).expect("write");
        assert!(open(&path, &key).is_err());
    }

    #[test]
    fn subjects_must_match_the_folder_exactly() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("a.txt"), "a").expect("write");
        std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
        std::fs::write(dir.path().join("sub/b.txt"), "b").expect("write");
        std::fs::write(dir.path().join(ENVELOPE), "{}").expect("write");
        let subjects = digest_tree(dir.path()).expect("digest");
        assert_eq!(subjects.keys().collect::<Vec<_>>(), ["a.txt", "sub/b.txt"]);
        assert!(check_subjects(dir.path(), &subjects).is_empty());
        std::fs::write(dir.path().join("sub/b.txt"), "B").expect("write");
        std::fs::write(dir.path().join("c.txt"), "c").expect("write");
        let problems: Vec<String> = check_subjects(dir.path(), &subjects)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            problems,
            [
                "sub/b.txt changed since it was signed (sha256 differs)",
                "c.txt is in the folder but was not signed"
            ]
        );
    }

    #[test]
    fn a_fifo_envelope_or_a_symlinked_subject_is_a_finding_never_a_hang() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (_, key) = key_pair(dir.path());
        let path = dir.path().join(ENVELOPE);
        let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).expect("no NUL");
        // SAFETY: mkfifo(3) on a NUL-terminated path in a temp folder this test owns.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        let finding = open(&path, &key).expect_err("a FIFO is no envelope");
        assert!(
            matches!(finding, AttestationFinding::EnvelopeUnreadable { .. }),
            "{finding}"
        );
        assert!(
            finding.to_string().contains("is a FIFO, not a regular file"),
            "{finding}"
        );
        let missing = open(&dir.path().join("none.json"), &key).expect_err("missing");
        assert!(
            missing
                .to_string()
                .contains("no signed attestation (No such file or directory"),
            "{missing}"
        );

        let signed = tempfile::tempdir().expect("tempdir");
        std::fs::write(signed.path().join("a.txt"), "a").expect("write");
        let subjects = digest_tree(signed.path()).expect("digest");
        std::fs::rename(signed.path().join("a.txt"), dir.path().join("a.txt")).expect("move");
        std::os::unix::fs::symlink(dir.path().join("a.txt"), signed.path().join("a.txt")).expect("symlink");
        let problems = check_subjects(signed.path(), &subjects);
        assert!(
            problems
                .iter()
                .any(|problem| matches!(problem, AttestationFinding::SubjectMissing { name, .. } if name == "a.txt")),
            "{problems:?}"
        );
    }
}
