//! The secret scan of a finished run: every channel the seed names, then every other file of
//! the run folder, then the git history around it.

use std::path::{Path, PathBuf};

use super::error::RunError;
use crate::case_logs::CapturedLog;
use crate::evidence::names;
use crate::output::ChannelScan;
use crate::secrets::SecretScanner;

/// Scans every channel the seed names plus every other file of the run folder.
pub(super) fn scan_channels(
    scanner: &SecretScanner,
    out: &Path,
    sot: Option<&Path>,
    argv: &[String],
    captured_logs: &[CapturedLog],
) -> Result<Vec<ChannelScan>, RunError> {
    let mut channels = Vec::new();
    let mut covered: Vec<PathBuf> = Vec::new();
    match sot {
        Some(sot) => scan_files(scanner, &mut covered, "sot", &[sot.to_owned()], &mut channels)?,
        None => channels.push(skipped_channel("sot", "no --sot given: the SOT cannot be scanned")),
    }
    let mut argv_hits = Vec::new();
    for (index, arg) in argv.iter().enumerate() {
        scanner.scan_bytes("argv", &format!("argv[{index}]"), arg.as_bytes(), &mut argv_hits);
    }
    channels.push(ChannelScan {
        channel: "argv".to_owned(),
        scanned: vec![format!("{} Case argument(s)", argv.len())],
        hits: argv_hits,
        skipped: None,
    });
    let files = [
        ("task_file", vec![out.join(names::TASK)]),
        ("backend_logs", vec![out.join(names::STDOUT), out.join(names::STDERR)]),
        ("trace", vec![out.join(names::TRACE)]),
        ("generated_config", vec![out.join(names::CASE_CONFIG)]),
        ("adapter_ledger", vec![out.join(names::LEDGER)]),
        ("case_output", vec![out.join(names::CASE_OUTPUT)]),
    ];
    for (channel, paths) in files {
        scan_files(scanner, &mut covered, channel, &paths, &mut channels)?;
    }
    // What Case wrote past the logs' cap was scanned as it was written, not from disk.
    if let Some(backend_logs) = channels.iter_mut().find(|channel| channel.channel == "backend_logs") {
        for log in captured_logs {
            backend_logs.scanned.extend(log.scanned_past_cap());
            backend_logs.hits.extend(log.hits.iter().cloned());
        }
    }
    // Everything else in the run folder, whatever wrote it.
    let others: Vec<PathBuf> = std::fs::read_dir(out)
        .map_err(crate::path_io::at(out))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| !covered.contains(path) && path.file_name().is_none_or(|name| name != names::REPORT))
        .collect();
    scan_files(scanner, &mut covered, "other_run_files", &others, &mut channels)?;
    let mut commit_hits = Vec::new();
    match scanner.scan_git_history("commit", out, &mut commit_hits) {
        Ok(true) => channels.push(ChannelScan {
            channel: "commit".to_owned(),
            scanned: vec!["git log --all -p of the run folder".to_owned()],
            hits: commit_hits,
            skipped: None,
        }),
        Ok(false) => channels.push(skipped_channel(
            "commit",
            "the run folder is not inside a git work tree: no commit to scan",
        )),
        // git could not say (e.g. "dubious ownership"): recorded, not hidden. The evidence
        // has not been committed by this run either way; `case-harness scan` checks commits
        // once someone makes them, and refuses an unreadable history.
        Err(err) => channels.push(skipped_channel("commit", &err.to_string())),
    }
    Ok(channels)
}

fn skipped_channel(channel: &str, reason: &str) -> ChannelScan {
    ChannelScan {
        channel: channel.to_owned(),
        scanned: Vec::new(),
        hits: Vec::new(),
        skipped: Some(reason.to_owned()),
    }
}

/// Scans `paths` (those that exist) as one channel and remembers them as covered.
fn scan_files(
    scanner: &SecretScanner,
    covered: &mut Vec<PathBuf>,
    channel: &str,
    paths: &[PathBuf],
    channels: &mut Vec<ChannelScan>,
) -> Result<(), RunError> {
    let mut hits = Vec::new();
    let mut scanned = Vec::new();
    let mut skipped = None;
    for path in paths.iter().filter(|path| std::fs::symlink_metadata(path).is_ok()) {
        match scanner.scan_path(channel, path, &mut hits) {
            Ok(()) => {}
            // A FIFO or device in the run folder: the channel is not fully scanned, which
            // fails the run (never a clean scan, never a harness error that hides the outcome).
            Err(err @ crate::secrets::ScanError::Unscannable { .. }) => skipped = Some(err.to_string()),
            Err(err) => return Err(err.into()),
        }
        scanned.push(path.display().to_string());
        covered.push(path.clone());
    }
    channels.push(ChannelScan {
        channel: channel.to_owned(),
        scanned,
        hits,
        skipped,
    });
    Ok(())
}
