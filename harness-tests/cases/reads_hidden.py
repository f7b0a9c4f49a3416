"""Asks the admitted model once, then tries to read argv[1] (a folder) and argv[2] (a file)
that the harness hid, recording what it saw in case-output/hidden.json; claims pass."""
import json, os, runpy, sys

runpy.run_path(os.path.join(os.path.dirname(__file__), "well_behaved.py"))
seen = {}
try:
    seen["folder"] = sorted(os.listdir(sys.argv[1]))
except OSError as error:
    seen["folder"] = "error: " + error.__class__.__name__
try:
    with open(sys.argv[2]) as file:
        seen["file"] = file.read()
except OSError as error:
    seen["file"] = "error: " + error.__class__.__name__
with open(os.path.join(os.environ["CASE_OUTPUT_DIR"], "hidden.json"), "w") as out:
    json.dump(seen, out)
