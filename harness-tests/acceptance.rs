//! The generated acceptance suite: one trial per acceptance bullet of the seed (the verbatim
//! one-line form), bound by `scenarios/`, plus `CTO-WORK-022::real-case-stage2`, which runs
//! only when `CTO_HARNESS_CASE_LOCAL_BASE_URL` is set.
//!
//! Paths are taken at run time when nextest provides them: a `cargo nextest archive` run on
//! another machine (`--workspace-remap`) has the sources and binaries somewhere else than
//! where they were built, and nextest says where in `CARGO_MANIFEST_DIR` and
//! `NEXTEST_BIN_EXE_*`.

use std::path::PathBuf;

fn main() -> std::process::ExitCode {
    let root = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .filter(|dir| dir.join("scenarios").is_dir())
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    let binary = ["NEXTEST_BIN_EXE_case-harness", "NEXTEST_BIN_EXE_case_harness"]
        .iter()
        .find_map(std::env::var_os)
        .map(PathBuf::from)
        .filter(|binary| binary.is_file())
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_case-harness")));
    case_harness::acceptance::AcceptanceSuite::new(root.join("fixtures/sot/seed-one-line.md"), root.join("scenarios"))
        .harness_binary(binary)
        .fixtures_dir(root.join("fixtures"))
        .cases_dir(root.join("harness-tests/cases"))
        .main()
}
