//! The generated acceptance suite: one trial per acceptance bullet of the seed (the verbatim
//! one-line form), bound by `scenarios/`, plus `CTO-WORK-022::real-case-stage2`, which runs
//! only when `CTO_HARNESS_CASE_LOCAL_BASE_URL` is set.

use std::path::Path;

fn main() -> std::process::ExitCode {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    case_harness::acceptance::AcceptanceSuite::new(root.join("fixtures/sot/seed-one-line.md"), root.join("scenarios"))
        .harness_binary(env!("CARGO_BIN_EXE_case-harness"))
        .fixtures_dir(root.join("fixtures"))
        .cases_dir(root.join("harness-tests/cases"))
        .main()
}
