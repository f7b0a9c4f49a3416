#!/usr/bin/env python3
"""Claude Code as Case: run `claude -p` on the Case contract and write result.json.

    case-harness run --task TASK --out RUN -- \
        python3 scripts/claude-case.py --claude "$(scripts/agents.sh path)" [--mode bare|default]

Reads the task from CASE_TASK_FILE (`prompt`, optional `system`, `checks`), runs Claude Code in
print mode with `--output-format json --model "$CASE_MODEL"` in CASE_OUTPUT_DIR (Case's working
directory), and writes `$CASE_OUTPUT_DIR/result.json`:
`{"verdict": "pass"|"fail", "reply": …, "checks": […], "agent": {…}, "error": …}`.
Exit 0 on pass, 1 on fail, 2 when the contract itself is broken.

Claude Code finds the adapter itself: the harness sets ANTHROPIC_BASE_URL, ANTHROPIC_AUTH_TOKEN,
ANTHROPIC_API_KEY and the model variables; this wrapper passes no endpoint, key or model
other than $CASE_MODEL.

Modes:
  bare     `--bare --tools "" --system-prompt …` (task `system`, default "Answer briefly."):
           a ~1 KB request that a small local model's context holds.
  default  Claude Code's own system prompt and all its tools, `--permission-mode acceptEdits`
           so that it may write files in its working directory without asking.

Checks (scripts/case_checks.py, shared with codex-case.py; on the agent's final text unless said otherwise):
  {"kind": "non_empty"}                        the reply is not blank
  {"kind": "contains", "value": "Paris"}       the reply contains the value (case-sensitive)
  {"kind": "not_contains", "value": "London"}  the reply does not contain the value
  {"kind": "word", "value": "Paris"}           the value is a whole word of the reply, any case
  {"kind": "exact", "value": "Paris"}          the trimmed reply is the trimmed value
  {"kind": "regex", "value": "^Paris\\.?$"}     the pattern matches (Python `re`; the reference
                                               Case uses the Rust `regex` crate's syntax)
  {"kind": "file_contains", "path": "hello.txt", "value": "hi"}
                                               CASE_OUTPUT_DIR/path exists and contains the value
Extra Claude Code arguments may follow `--`."""
import argparse
import json
import os
import subprocess
import sys

sys.dont_write_bytecode = True  # no __pycache__ beside the scripts (a read-only host, or the repo)
from case_checks import conclude, fail_contract as contract_broken  # noqa: E402

WRAPPER = "claude-case"


def fail_contract(message):
    contract_broken(WRAPPER, message)


def variable(name):
    value = os.environ.get(name)
    if not value:
        fail_contract(f"{name} is not set: run me through `case-harness run`")
    return value


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--claude", default="claude", help="the Claude Code binary (default: claude on PATH)")
    parser.add_argument("--mode", choices=["bare", "default"], default="bare")
    parser.add_argument("extra", nargs="*", help="more Claude Code arguments (after --)")
    args = parser.parse_args()

    model = variable("CASE_MODEL")
    output_dir = variable("CASE_OUTPUT_DIR")
    task_file = variable("CASE_TASK_FILE")
    try:
        with open(task_file, encoding="utf-8") as handle:
            task = json.load(handle)
        prompt = task["prompt"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        fail_contract(f"cannot read the task {task_file}: {error}")

    command = [args.claude, "-p", "--output-format", "json", "--model", model]
    if args.mode == "bare":
        command += ["--bare", "--tools", "", "--system-prompt", task.get("system") or "Answer briefly."]
    else:
        command += ["--permission-mode", "acceptEdits"]
    command += args.extra + ["--", prompt]

    error = None
    agent = {"mode": args.mode}
    reply = ""
    try:
        done = subprocess.run(command, cwd=output_dir, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    except OSError as spawn_error:
        done = None
        error = f"cannot start {args.claude}: {spawn_error}"
    if done is not None:
        sys.stderr.write(done.stderr)
        agent["exit_code"] = done.returncode
        try:
            output = json.loads(done.stdout)
        except ValueError:
            output = None
            error = f"claude printed no JSON result (exit {done.returncode}): {done.stdout[-400:]!r}"
        if isinstance(output, dict):
            reply = output.get("result") or ""
            for key in ("subtype", "is_error", "num_turns", "stop_reason", "api_error_status", "terminal_reason"):
                agent[key] = output.get(key)
            if output.get("is_error"):
                error = f"claude reported an error ({output.get('subtype')}): {reply[:400]}"
        elif output is not None:
            error = "claude's JSON result is not an object"

    conclude(WRAPPER, task, model, reply, agent, error, output_dir)

if __name__ == "__main__":
    main()
