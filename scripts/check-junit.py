#!/usr/bin/env python3
"""Reads the suite's JUnit files with a real consumer (junitparser) and fails loudly unless
they say what CI needs them to say.

usage: check-junit.py ACCEPTANCE_XML [NEXTEST_XML] [--require-real-stage2]
                     [--real-stage2-server SERVER]

- every acceptance trial is a testcase carrying the traceability properties;
- nothing failed; only the real Stage 2 trial may be skipped, and with
  --require-real-stage2 it must have run and passed (CI must not go green on a skip);
- with --real-stage2-server SERVER (implies --require-real-stage2), the real trial's last
  report (its `report_path.N` property) says the upstream was SERVER (the fingerprint's
  `server`, e.g. `llama-cpp-python` or `llama.cpp (llama-server)`) and the served model file
  matched the admission's model_sha256: CI runs the trial once per provider, and each run
  must prove which server answered.
"""
import json
import sys

from junitparser import Error, Failure, JUnitXml, Skipped

REAL = "CTO-WORK-022::real-case-stage2"


def cases(path):
    xml = JUnitXml.fromfile(path)
    suites = [xml] if xml._tag == "testsuite" else list(xml)
    return [case for suite in suites for case in suite]


def served_by(acceptance, server):
    """Problems with the real trial's report proving SERVER served it with the admitted file."""
    real = [case for case in acceptance if case.name == REAL]
    if not real:
        return [f"{REAL}: not in the file"]
    properties = {prop.get("name"): prop.get("value") for prop in real[0]._elem.iter("property")}
    reports = sorted(
        (int(name.split(".", 1)[1]), value)
        for name, value in properties.items()
        if name.startswith("report_path.") and name.split(".", 1)[1].isdigit()
    )
    if not reports:
        return [f"{REAL}: no report_path property"]
    path = reports[-1][1]
    try:
        with open(path, encoding="utf-8") as file:
            fingerprint = json.load(file).get("upstream_fingerprint") or {}
    except (OSError, ValueError) as err:
        return [f"{REAL}: cannot read its report {path}: {err}"]
    problems = []
    if fingerprint.get("server") != server:
        problems.append(f"{REAL}: {path} upstream_fingerprint.server is {fingerprint.get('server')!r}, expected {server!r}")
    if fingerprint.get("model_sha256_check") != "match":
        problems.append(f"{REAL}: {path} upstream_fingerprint.model_sha256_check is "
                        f"{fingerprint.get('model_sha256_check')!r}, expected 'match'")
    if not problems:
        model_file = (fingerprint.get("model_file") or {}).get("path")
        print(f"{REAL}: served by {server}, model file {model_file} matches model_sha256")
    return problems


def main(argv):
    argv = list(argv)
    server = None
    if "--real-stage2-server" in argv:
        at = argv.index("--real-stage2-server")
        if at + 1 >= len(argv):
            sys.exit("--real-stage2-server needs a value\n" + __doc__)
        server = argv[at + 1]
        del argv[at : at + 2]
    require_real = "--require-real-stage2" in argv or server is not None
    paths = [arg for arg in argv if not arg.startswith("--")]
    if not paths:
        sys.exit(__doc__)
    problems = []
    acceptance = cases(paths[0])
    bullets = [case for case in acceptance if "::" in case.name and case.name != REAL]
    if len(bullets) != 19:
        problems.append(f"{paths[0]}: expected 19 bullet trials, found {len(bullets)}")
    for case in acceptance:
        # junitparser reads testcase <properties> only through the element itself.
        properties = {prop.get("name"): prop.get("value") for prop in case._elem.iter("property")}
        for name in ("work_item", "bullet", "proof", "gate_codes"):
            if name not in properties:
                problems.append(f"{case.name}: no `{name}` property")
        if case.name != REAL and not properties.get("bullet"):
            problems.append(f"{case.name}: empty bullet text")
        outcome = [type(result) for result in case.result]
        if Failure in outcome or Error in outcome:
            problems.append(f"{case.name}: failed")
        if Skipped in outcome and (case.name != REAL or require_real):
            problems.append(f"{case.name}: skipped")
    if require_real and not any(case.name == REAL and not case.result for case in acceptance):
        problems.append(f"{REAL}: did not run and pass")
    if server is not None:
        problems.extend(served_by(acceptance, server))
    for path in paths[1:]:
        print(f"{path}: {len(cases(path))} testcases (parsed by junitparser)")
    if problems:
        print("JUnit check FAILED:\n  " + "\n  ".join(problems))
        return 1
    print(f"{paths[0]}: {len(acceptance)} testcases with properties; real Stage 2 "
          + ("passed" if require_real else "not required"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
