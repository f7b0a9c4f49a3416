#!/usr/bin/env python3
"""Reads the suite's JUnit files with a real consumer (junitparser) and fails loudly unless
they say what CI needs them to say.

usage: check-junit.py ACCEPTANCE_XML [NEXTEST_XML] [--require-real-stage2]

- every acceptance trial is a testcase carrying the traceability properties;
- nothing failed; only the real Stage 2 trial may be skipped, and with
  --require-real-stage2 it must have run and passed (CI must not go green on a skip).
"""
import sys

from junitparser import Error, Failure, JUnitXml, Skipped

REAL = "CTO-WORK-022::real-case-stage2"


def cases(path):
    xml = JUnitXml.fromfile(path)
    suites = [xml] if xml._tag == "testsuite" else list(xml)
    return [case for suite in suites for case in suite]


def main(argv):
    require_real = "--require-real-stage2" in argv
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
