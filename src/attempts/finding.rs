//! What `verify OUT/aggregate.json` can find wrong, one variant per fact, each naming the file
//! or field it is about (as the run report's [`crate::evidence::Finding`] does). The text of
//! each is the line `verify` prints.

use std::path::PathBuf;

use super::AGGREGATE;
use crate::attestation::AttestationFinding;
use crate::evidence::{EvidenceError, Finding};
use crate::guarded_files::RunFileError;

/// One reason an aggregate does not hold.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AggregateFinding {
    /// `aggregate.json` could not be read.
    #[error(transparent)]
    Unreadable(#[from] RunFileError),
    /// `aggregate.json` is not an aggregate.
    #[error("{}: not an aggregate: {source}", path.display())]
    NotAnAggregate {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// With a key: the folder's envelope, or a file it covers.
    #[error(transparent)]
    Envelope(#[from] AttestationFinding),
    /// With a key: the signed predicate is not this aggregate's.
    #[error("the signed predicate differs from what {AGGREGATE} says")]
    PredicateDiffers,
    /// The predicate could not be computed from the aggregate.
    #[error("{0}")]
    Predicate(#[source] serde_json::Error),
    /// The aggregate carries no seal.
    #[error("{AGGREGATE} is not sealed")]
    NotSealed,
    /// The seal's digest is not the content's.
    #[error("seal digest does not match the aggregate's content (edited after sealing?)")]
    SealMismatch,
    /// The seal's digest could not be computed.
    #[error("{0}")]
    SealDigest(#[source] EvidenceError),
    /// `runs` does not list `attempt-1` … `attempt-N` for the `attempts` it claims.
    #[error("the aggregate lists attempts {runs:?}, but says it ran {attempts} ({listed:?})")]
    AttemptsMisListed {
        runs: Vec<String>,
        attempts: u32,
        listed: Vec<String>,
    },
    /// An attempt folder on disk that the aggregate does not list.
    #[error("{folder} is in the folder but not in the aggregate")]
    UnlistedFolder { folder: String },
    /// With a key: an attempt's own envelope.
    #[error("{folder}: {finding}")]
    AttemptSignature {
        folder: String,
        #[source]
        finding: AttestationFinding,
    },
    /// An attempt's report does not verify.
    #[error("{folder}: {finding}")]
    AttemptReport {
        folder: String,
        #[source]
        finding: Finding,
    },
    /// An attempt's report digest is not the one listed.
    #[error("{folder}: its report's digest is {found}, the aggregate lists {listed}")]
    AttemptDigest {
        folder: String,
        found: String,
        listed: String,
    },
    /// An attempt's report could not be read back.
    #[error("{folder}: {source}")]
    AttemptUnreadable {
        folder: String,
        #[source]
        source: RunFileError,
    },
    /// An attempt's report is not a report.
    #[error("{folder}: {source}")]
    AttemptNotAReport {
        folder: String,
        #[source]
        source: serde_json::Error,
    },
    /// `attempts`, `required` and `parallel` make no plan `run --attempts` would accept.
    #[error("{0}")]
    Plan(String),
    /// An attempt ran with another sampling pin than the aggregate records.
    #[error("{folder}: its sampling pin differs from the aggregate's")]
    SamplingDiffers { folder: String },
    /// A number or word of the aggregate that the attempts do not give.
    #[error("{field} does not follow from the attempts")]
    DoesNotFollow { field: &'static str },
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The words `verify` printed when these were strings stay the same.
    #[test]
    fn the_messages_are_the_ones_verify_always_printed() {
        let cases = [
            (AggregateFinding::NotSealed, "aggregate.json is not sealed".to_owned()),
            (
                AggregateFinding::PredicateDiffers,
                "the signed predicate differs from what aggregate.json says".to_owned(),
            ),
            (
                AggregateFinding::UnlistedFolder {
                    folder: "attempt-4".into(),
                },
                "attempt-4 is in the folder but not in the aggregate".to_owned(),
            ),
            (
                AggregateFinding::AttemptDigest {
                    folder: "attempt-1".into(),
                    found: "ab".into(),
                    listed: "cd".into(),
                },
                "attempt-1: its report's digest is ab, the aggregate lists cd".to_owned(),
            ),
            (
                AggregateFinding::AttemptsMisListed {
                    runs: vec!["attempt-1".into()],
                    attempts: 2,
                    listed: vec!["attempt-1".into(), "attempt-2".into()],
                },
                r#"the aggregate lists attempts ["attempt-1"], but says it ran 2 (["attempt-1", "attempt-2"])"#
                    .to_owned(),
            ),
            (
                AggregateFinding::DoesNotFollow { field: "passes" },
                "passes does not follow from the attempts".to_owned(),
            ),
        ];
        for (finding, text) in cases {
            assert_eq!(finding.to_string(), text);
        }
    }
}
