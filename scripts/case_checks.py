"""The task checks of the Case contract, shared by the agent wrappers (claude-case.py, codex-case.py).

Checks (on the agent's final text unless said otherwise):
  {"kind": "non_empty"}                        the reply is not blank
  {"kind": "contains", "value": "Paris"}       the reply contains the value (case-sensitive)
  {"kind": "not_contains", "value": "London"}  the reply does not contain the value
  {"kind": "word", "value": "Paris"}           the value is a whole word of the reply, any case
  {"kind": "exact", "value": "Paris"}          the trimmed reply is the trimmed value
  {"kind": "regex", "value": "^Paris\\.?$"}     the pattern matches (Python `re`; the reference
                                               Case uses the Rust `regex` crate's syntax)
  {"kind": "file_contains", "path": "hello.txt", "value": "hi"}
                                               CASE_OUTPUT_DIR/path exists and contains the value
"""
import json
import os
import re
import sys

KINDS = ("non_empty", "contains", "not_contains", "word", "exact", "regex", "file_contains")


class ContractError(Exception):
    """The task itself cannot be judged (a wrapper exits 2 on it, as for any broken contract)."""


def check(spec, reply, output_dir):
    """`spec` with `passed` added, judged on `reply` (and files under `output_dir`)."""
    kind = spec.get("kind")
    if kind == "non_empty":
        passed = bool(reply.strip())
    elif kind == "contains":
        passed = spec["value"] in reply
    elif kind == "not_contains":
        passed = spec["value"] not in reply
    elif kind == "word":
        passed = re.search(r"(?:^|\W)" + re.escape(spec["value"]) + r"(?:\W|$)", reply, re.IGNORECASE) is not None
    elif kind == "exact":
        passed = reply.strip() == spec["value"].strip()
    elif kind == "regex":
        try:
            passed = re.search(spec["value"], reply) is not None
        except re.error as err:
            raise ContractError(f"task check regex {spec['value']!r} does not compile: {err}") from err
    elif kind == "file_contains":
        path = os.path.join(output_dir, spec["path"])
        try:
            with open(path, encoding="utf-8") as handle:
                passed = spec["value"] in handle.read()
        except OSError:
            passed = False
    else:
        raise ContractError(f"task check kind {kind!r} is not known ({', '.join(KINDS)})")
    return dict(spec, passed=passed)


def judge(specs, reply, output_dir):
    """Every check of the task, judged."""
    return [check(spec, reply, output_dir) for spec in specs]


def fail_contract(wrapper, message):
    """The Case contract itself is broken (a variable unset, a check unknown): exit 2."""
    print(f"{wrapper}: {message}", file=sys.stderr)
    sys.exit(2)


def conclude(wrapper, task, model, reply, agent, error, output_dir):
    """Judges the task's checks on `reply`, writes `result.json` in `output_dir` and exits:
    0 on pass (no `error` and every check passed), 1 on fail, 2 on a broken contract."""
    try:
        checks = judge(task.get("checks", []), reply, output_dir)
    except ContractError as contract_error:
        fail_contract(wrapper, str(contract_error))
    passed = error is None and all(item["passed"] for item in checks)
    result = {"verdict": "pass" if passed else "fail", "model": model, "reply": reply, "checks": checks,
              "agent": agent, "error": error}
    with open(os.path.join(output_dir, "result.json"), "w", encoding="utf-8") as handle:
        json.dump(result, handle, indent=1)
    print(f"{wrapper}: reply {reply[:200]!r}; verdict {result['verdict']}", file=sys.stderr)
    sys.exit(0 if passed else 1)
