//! One generated trial per acceptance bullet of `plan.md`, bound by `scenarios/`, driven
//! against this crate's own `fixtures/`. The `case-harness` binary comes from
//! `CASE_HARNESS_BIN` (see `.cargo/config.toml`) or `PATH`.

use std::path::Path;

fn main() -> std::process::ExitCode {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    case_harness::acceptance::AcceptanceSuite::new(root.join("plan.md"), root.join("scenarios"))
        .fixtures_dir(root.join("fixtures"))
        .cases_dir(root.join("cases"))
        .main()
}
