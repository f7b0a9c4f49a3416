#!/usr/bin/env python3
"""blind-scan-paths.py — prove that each secret-scan path is guarded by a named test.

For each scan path of `case-harness run` (one per channel, plus the scanner's in-memory
search), this copies the committed tree (`git archive HEAD`) into a temporary folder, blinds
that one path with a source edit, runs the leak-channel tests there, and prints which tests
turned red. A blind that no test notices exits 1. The worktree itself is never edited.

Usage:
    scripts/blind-scan-paths.py [BLIND...]      default: every blind below

Builds share this checkout's target/ folder (or $CARGO_TARGET_DIR), so only the crate itself
is rebuilt per blind. docs/reliability.md records the last result.
"""
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The leak-channel tests, and the one that proves a leak past Case's log cap is still found.
TESTS = ["run::leak_channels", "run::misbehaving_case::a_token_printed_after_the_log_cap"]

# name -> (file, exact text, replacement). Each must match exactly once, or the script
# stops: a blind that no longer applies is reported, never skipped silently.
BLINDS = {
    "sot": ("src/run/scan.rs", '"sot", &[sot.to_owned()]', '"sot", &[]'),
    "argv": ("src/run/scan.rs", "for (index, arg) in argv.iter().enumerate() {",
             "for (index, arg) in argv.iter().enumerate().take(0) {"),
    "task_file": ("src/run/scan.rs", '("task_file", vec![out.join(names::TASK)])', '("task_file", vec![])'),
    "backend_logs": ("src/run/scan.rs", '("backend_logs", vec![out.join(names::STDOUT), out.join(names::STDERR)])',
                     '("backend_logs", vec![])'),
    "trace": ("src/run/scan.rs", '("trace", vec![out.join(names::TRACE)])', '("trace", vec![])'),
    "generated_config": ("src/run/scan.rs", '("generated_config", vec![out.join(names::CASE_CONFIG)])',
                         '("generated_config", vec![])'),
    "case_output": ("src/run/scan.rs", '("case_output", vec![out.join(names::CASE_OUTPUT)])', '("case_output", vec![])'),
    "report": ("src/run/pipeline.rs", 'scanner.scan_bytes("report", names::REPORT, bytes, &mut hits);',
               'let _ = (bytes, &scanner);'),
    "commit": ("src/run/scan.rs", 'scanner.scan_git_history("commit", out, &mut commit_hits)',
               'scanner.scan_git_history("commit", Path::new("/nonexistent-blind"), &mut commit_hits)'),
    "other_run_files": ("src/run/scan.rs", 'scan_files(scanner, &mut covered, "other_run_files", &others, &mut channels)?;',
                        'scan_files(scanner, &mut covered, "other_run_files", &[], &mut channels)?; let _ = &others;'),
    "backend_logs_past_cap": ("src/run/scan.rs", "backend_logs.hits.extend(log.hits.iter().cloned());",
                              "let _ = &log.hits;"),
    "scanner_find": ("src/secrets/scanner.rs", "pub(crate) fn find(&self, bytes: &[u8]) -> Vec<&str> {",
                     "pub(crate) fn find(&self, bytes: &[u8]) -> Vec<&str> { let _ = bytes; return Vec::new();"),
}


def run_blind(name, tree):
    path, old, new = BLINDS[name]
    full = os.path.join(tree, path)
    with open(full) as f:
        text = f.read()
    if text.count(old) != 1:
        return None, f"blind {name}: {path} has {text.count(old)} copies of the text to blind"
    with open(full, "w") as f:
        f.write(text.replace(old, new))
    env = dict(os.environ)
    env.setdefault("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    try:
        result = subprocess.run(
            ["cargo", "test", "--quiet", "--test", "integration", "--", *TESTS, "--test-threads=2"],
            cwd=tree, env=env, capture_output=True, text=True, timeout=1800,
        )
    finally:
        with open(full, "w") as f:
            f.write(text)
    failed = sorted(set(re.findall(r"^    (run::\S+)$", result.stdout, re.M)))
    if result.returncode != 0 and not failed:
        return None, f"blind {name}: the tests did not run:\n{result.stdout[-2000:]}{result.stderr[-2000:]}"
    return failed, None


def main():
    names = sys.argv[1:] or list(BLINDS)
    unknown = [name for name in names if name not in BLINDS]
    if unknown:
        sys.exit(f"unknown blind(s): {unknown}; known: {list(BLINDS)}")
    unguarded = []
    with tempfile.TemporaryDirectory(prefix="case-harness-blind-") as tree:
        archive = subprocess.run(["git", "archive", "HEAD"], cwd=ROOT, capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", tree], input=archive.stdout, check=True)
        for name in names:
            failed, error = run_blind(name, tree)
            if error:
                print(error, file=sys.stderr)
                unguarded.append(name)
                continue
            print(f"{name}: {', '.join(failed) if failed else 'NO TEST TURNED RED'}", flush=True)
            if not failed:
                unguarded.append(name)
    if unguarded:
        sys.exit(f"unguarded scan path(s): {', '.join(unguarded)}")


if __name__ == "__main__":
    main()
