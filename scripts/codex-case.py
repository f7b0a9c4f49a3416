#!/usr/bin/env python3
"""Codex CLI as Case: run `codex exec` on the Case contract and write result.json.

    case-harness run --task TASK --out RUN -- \
        python3 scripts/codex-case.py --codex "$(scripts/agents.sh path codex)"

Reads the task from CASE_TASK_FILE (`prompt`, `checks`), writes Codex's configuration into its
per-run home (CODEX_HOME, which the harness sets to `case-home/.codex`, fresh and empty), runs
`codex exec --skip-git-repo-check --json` in CASE_OUTPUT_DIR (Case's working directory) and
writes `$CASE_OUTPUT_DIR/result.json`:
`{"verdict": "pass"|"fail", "reply": …, "checks": […], "agent": {…}, "error": …}`.
Exit 0 on pass, 1 on fail, 2 when the contract itself is broken.

The configuration comes only from Case's environment: one provider, `case`, whose `base_url`
is CASE_BASE_URL (else OPENAI_BASE_URL), whose key Codex reads from CASE_API_KEY (`env_key`:
the key is never written to a file or an argument), `wire_api = "responses"`, and the model
CASE_MODEL. Codex's own sandbox is off (`--sandbox danger-full-access`, approvals `never`):
its bubblewrap cannot nest inside the harness's confinement, which is the boundary
(docs/decisions.md, "Codex CLI as Case").

Checks: scripts/case_checks.py (non_empty, contains, not_contains, word, exact, regex,
file_contains), shared with claude-case.py. Extra Codex arguments may follow `--`."""
import argparse
import json
import os
import subprocess
import sys

sys.dont_write_bytecode = True  # no __pycache__ beside the scripts (a read-only host, or the repo)
from case_checks import conclude, fail_contract as contract_broken  # noqa: E402

WRAPPER = "codex-case"

PROVIDER = "case"


def fail_contract(message):
    contract_broken(WRAPPER, message)


def variable(*names):
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    fail_contract(f"{' or '.join(names)} is not set: run me through `case-harness run`")


def toml_string(value):
    """A TOML basic string (JSON's escapes are valid TOML for these values)."""
    return json.dumps(value)


def write_config(codex_home, base_url, model):
    """Codex's config.toml for this run: the adapter as the only provider, no sandbox of its own."""
    config = "\n".join([
        "# Written by scripts/codex-case.py for one case-harness run.",
        f"model = {toml_string(model)}",
        f"model_provider = {toml_string(PROVIDER)}",
        'approval_policy = "never"',
        'sandbox_mode = "danger-full-access"',
        "",
        f"[model_providers.{PROVIDER}]",
        'name = "case-harness adapter"',
        f"base_url = {toml_string(base_url)}",
        'env_key = "CASE_API_KEY"',
        'wire_api = "responses"',
        "",
    ])
    os.makedirs(codex_home, exist_ok=True)
    path = os.path.join(codex_home, "config.toml")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(config)
    return path


def read_events(stdout):
    """The JSONL events `codex exec --json` printed (lines that are not JSON are skipped)."""
    events = []
    for line in stdout.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict):
            events.append(event)
    return events


def summarise(events):
    """(last agent message, agent facts, error) from Codex's events."""
    reply = ""
    commands = []
    usage = None
    error = None
    for event in events:
        kind = event.get("type")
        item = event.get("item") if isinstance(event.get("item"), dict) else {}
        if kind == "item.completed" and item.get("type") == "agent_message":
            reply = item.get("text") or ""
        elif kind == "item.completed" and item.get("type") == "command_execution":
            commands.append({"command": item.get("command"), "exit_code": item.get("exit_code"),
                             "status": item.get("status")})
        elif kind == "turn.completed":
            usage = event.get("usage")
        elif kind == "turn.failed":
            error = f"codex turn failed: {(event.get('error') or {}).get('message', '')[:400]}"
        elif kind == "error" and error is None:
            error = f"codex reported an error: {str(event.get('message', ''))[:400]}"
    return reply, {"commands": commands, "usage": usage}, error


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--codex", default="codex", help="the Codex CLI binary (default: codex on PATH)")
    parser.add_argument("extra", nargs="*", help="more `codex exec` arguments (after --)")
    args = parser.parse_args()

    model = variable("CASE_MODEL")
    output_dir = variable("CASE_OUTPUT_DIR")
    task_file = variable("CASE_TASK_FILE")
    base_url = variable("CASE_BASE_URL", "OPENAI_BASE_URL")
    variable("CASE_API_KEY")
    codex_home = variable("CODEX_HOME")
    try:
        with open(task_file, encoding="utf-8") as handle:
            task = json.load(handle)
        prompt = task["prompt"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        fail_contract(f"cannot read the task {task_file}: {error}")
    try:
        write_config(codex_home, base_url, model)
    except OSError as error:
        fail_contract(f"cannot write Codex's configuration into CODEX_HOME {codex_home}: {error}")
    last_message = os.path.join(codex_home, "last-message.txt")

    command = [args.codex, "exec", "--skip-git-repo-check", "--json", "--color", "never",
               "--sandbox", "danger-full-access", "-m", model, "-C", output_dir,
               "-o", last_message] + args.extra + ["--", prompt]

    error = None
    agent = {"agent": "codex", "sandbox": "danger-full-access"}
    reply = ""
    try:
        done = subprocess.run(command, cwd=output_dir, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    except OSError as spawn_error:
        done = None
        error = f"cannot start {args.codex}: {spawn_error}"
    if done is not None:
        sys.stderr.write(done.stderr)
        agent["exit_code"] = done.returncode
        reply, facts, error = summarise(read_events(done.stdout))
        agent.update(facts)
        try:
            with open(last_message, encoding="utf-8") as handle:
                reply = handle.read() or reply
        except OSError:
            pass
        if error is None and done.returncode != 0:
            error = f"codex exec exited {done.returncode}: {done.stderr.strip()[-400:]!r}"

    conclude(WRAPPER, task, model, reply, agent, error, output_dir)

if __name__ == "__main__":
    main()
