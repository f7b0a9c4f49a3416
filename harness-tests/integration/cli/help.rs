//! `--help` is the documentation: `check` and `status` each explain every
//! `CTO_HARNESS_CASE_*` variable (README, "Environment") and the exit codes.

use case_harness::config::KNOWN_VARIABLES;

use crate::cli::util::{harness, text};

/// The variables the README's "Environment" table names.
const DOCUMENTED_VARIABLES: [&str; 4] = [
    "CTO_HARNESS_CASE_MODEL_ADMISSION_FILE",
    "CTO_HARNESS_CASE_LOCAL_BASE_URL",
    "CTO_HARNESS_CASE_DECISION_FILE",
    "CTO_HARNESS_CASE_LOCAL_API_KEY",
];

#[test]
fn the_harness_reads_exactly_the_design_variables() {
    let mut known = KNOWN_VARIABLES.to_vec();
    let mut design = DOCUMENTED_VARIABLES.to_vec();
    known.sort_unstable();
    design.sort_unstable();
    assert_eq!(known, design);
}

#[test]
fn check_and_status_help_explain_every_variable() {
    for subcommand in ["check", "status"] {
        let output = harness()
            .arg(subcommand)
            .arg("--help")
            .assert()
            .code(0)
            .stderr("")
            .get_output()
            .clone();
        let help = text(&output.stdout);
        for variable in DOCUMENTED_VARIABLES {
            let line = help
                .lines()
                .find(|line| line.trim_start().starts_with(variable))
                .unwrap_or_else(|| panic!("`{subcommand} --help` has no line explaining {variable}:\n{help}"));
            assert!(
                line.trim_start().len() > variable.len() + 10,
                "`{subcommand} --help` names {variable} but does not explain it: {line}"
            );
        }
        assert!(help.contains("3 blocked before case_process_started"), "{help}");
    }
}

/// `evidence` has no `--decision` (nor `--admission`): its help must not send a reader to them,
/// and it lists the exit codes a script may see from it, 130 for Ctrl-C included.
#[test]
fn evidence_help_names_no_flag_it_lacks() {
    let output = harness()
        .args(["evidence", "--help"])
        .assert()
        .code(0)
        .get_output()
        .clone();
    let help = text(&output.stdout);
    assert!(!help.contains("--decision") && !help.contains("--admission"), "{help}");
    assert!(help.contains("--force"), "{help}");
    assert!(help.contains("130 stopped by SIGINT"), "{help}");
    let output = harness().args(["run", "--help"]).assert().code(0).get_output().clone();
    let help = text(&output.stdout);
    assert!(
        help.contains("--decision <PATH>") && help.contains("--admission <PATH>"),
        "{help}"
    );
}
