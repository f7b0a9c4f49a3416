//! Every fixed file name of a run folder, and of the evidence folder around run folders, in
//! one bottom-layer module: the pipeline that writes a file, the adapter that appends to it,
//! `verify` that reads it back and the attestation that leaves it out all name it from here,
//! so that a name cannot be spelled two ways.

/// The sealed report.
pub(crate) const REPORT: &str = "report.json";
/// The event log.
pub(crate) const TRACE: &str = "trace.jsonl";
/// One line per adapter request.
pub(crate) const LEDGER: &str = "adapter-ledger.jsonl";
/// The generated Case configuration.
pub(crate) const CASE_CONFIG: &str = "case-config.json";
/// The task as given to Case.
pub(crate) const TASK: &str = "task.json";
/// Case's stdout.
pub(crate) const STDOUT: &str = "case-stdout.log";
/// Case's stderr.
pub(crate) const STDERR: &str = "case-stderr.log";
/// Case's `CASE_OUTPUT_DIR`.
pub(crate) const CASE_OUTPUT: &str = "case-output";
/// Case's own writable home folder (its `HOME` and agent config live there).
pub(crate) const CASE_HOME: &str = "case-home";
/// Case's verdict file inside `case-output/`.
pub(crate) const RESULT: &str = "case-output/result.json";
/// Exact copies of the decision and admission records the gates read.
pub(crate) const INPUTS: &str = "inputs";
/// The admission copy inside `inputs/`.
pub(crate) const ADMISSION_COPY: &str = "inputs/admission.json";
/// JUnit for this run.
pub(crate) const JUNIT: &str = "junit.xml";
/// The signed in-toto attestation (DSSE envelope) beside the report.
pub(crate) const ENVELOPE: &str = "attestation.dsse.json";
/// The trial records of an evidence folder.
pub(crate) const TRIALS: &str = "trials.json";
/// The aggregate of `run --attempts` in `OUT/`.
pub(crate) const AGGREGATE: &str = "aggregate.json";
/// The human summary of the attempts in `OUT/`.
pub(crate) const SUMMARY: &str = "summary.md";
