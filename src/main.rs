//! The `case-harness` binary: everything lives in the library; see [`case_harness::cli`].

fn main() -> std::process::ExitCode {
    case_harness::cli::main()
}
