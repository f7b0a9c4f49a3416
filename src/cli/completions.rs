//! `case-harness completions SHELL` and `case-harness man`: generated from the same clap
//! table as `--help`, so they cannot drift from the flags.
//!
//! The man page goes to stdout (`case-harness man > case-harness.1`), like `--help`, so that
//! a packager decides where it lives; `man --dir DIR` writes one page per command
//! (case-harness.1, case-harness-run.1 …) for those who want every command's flags in man.

use std::path::Path;

use clap::CommandFactory;

use super::exit::{CliError, Exit};

/// Prints `shell`'s completion script for every (visible) command and flag.
pub(crate) fn completions(shell: clap_complete::Shell) -> Result<Exit, CliError> {
    let mut command = super::Cli::command();
    clap_complete::generate(shell, &mut command, "case-harness", &mut std::io::stdout());
    Ok(Exit::Success)
}

/// Prints case-harness(1) as roff, or writes every command's page into `dir`.
pub(crate) fn man(dir: Option<&Path>) -> Result<Exit, CliError> {
    let command = super::Cli::command();
    match dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(crate::path_io::at(dir))?;
            clap_mangen::generate_to(command, dir).map_err(crate::path_io::at(dir))?;
            println!("man pages: {}", dir.display());
        }
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(command)
                .render(&mut page)
                .map_err(crate::path_io::at(Path::new("<stdout>")))?;
            use std::io::Write as _;
            std::io::stdout()
                .write_all(&page)
                .map_err(crate::path_io::at(Path::new("<stdout>")))?;
        }
    }
    Ok(Exit::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(shell: clap_complete::Shell) -> String {
        let mut bytes = Vec::new();
        clap_complete::generate(shell, &mut super::super::Cli::command(), "case-harness", &mut bytes);
        String::from_utf8(bytes).expect("utf-8")
    }

    #[test]
    fn every_shell_completes_the_commands_and_their_flags() {
        use clap_complete::Shell;
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish, Shell::Elvish, Shell::PowerShell] {
            let text = script(shell);
            for word in ["doctor", "evidence", "probe-timeout", "fail-fast", "format"] {
                assert!(text.contains(word), "{shell} completion lacks {word}");
            }
        }
    }

    #[test]
    fn the_man_page_is_roff_naming_every_visible_command() {
        let mut page = Vec::new();
        clap_mangen::Man::new(super::super::Cli::command())
            .render(&mut page)
            .expect("render");
        let page = String::from_utf8(page).expect("utf-8");
        assert!(
            page.starts_with(".ie \\n(.g .ds Aq"),
            "not roff: {}",
            &page[..40.min(page.len())]
        );
        assert!(page.contains(".TH case-harness 1"));
        for command in ["check", "run", "evidence", "verify", "doctor", "completions"] {
            assert!(page.contains(command), "man page lacks {command}");
        }
    }

    #[test]
    fn man_dir_writes_one_page_per_command() {
        let dir = tempfile::tempdir().expect("tempdir");
        man(Some(dir.path())).expect("man --dir");
        for page in ["case-harness.1", "case-harness-run.1", "case-harness-doctor.1"] {
            let text = std::fs::read_to_string(dir.path().join(page)).expect(page);
            assert!(text.contains(".TH"), "{page} is not roff");
        }
    }
}
