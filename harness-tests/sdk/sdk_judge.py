"""What both SDK judges share: the checks' record and the report `harness-tests/sdk.rs` reads.

A judge program imports `check`, `failures` and `observed`, defines its scenarios, and calls
`main(SCENARIOS, sdk.__version__)`, which runs the one named on the command line, prints one
JSON object {"scenario", "sdk_version", "observed", "failures"} on stdout and exits 0 only when
every check held (1 when one failed; an unexpected exception exits 2 with its traceback).
"""

import json
import sys
import traceback

failures = []
observed = {}


def check(condition, what):
    if not condition:
        failures.append(what)


def main(scenarios, sdk_version):
    if len(sys.argv) != 2 or sys.argv[1] not in scenarios:
        sys.exit(f"usage: {sys.argv[0]} {'|'.join(scenarios)}")
    try:
        scenarios[sys.argv[1]]()
    except Exception:
        traceback.print_exc()
        sys.exit(2)
    print(json.dumps({"scenario": sys.argv[1], "sdk_version": sdk_version, "observed": observed, "failures": failures}))
    sys.exit(1 if failures else 0)
