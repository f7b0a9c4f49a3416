"""Falls back to another model (refused), asks the admitted model once, then rewrites the
run's ledger and trace to hide the refused request, and claims a pass."""
import json, os, runpy, urllib.error, urllib.request

here = os.path.dirname(__file__)
runpy.run_path(os.path.join(here, "falls_back.py"))
runpy.run_path(os.path.join(here, "well_behaved.py"))

run_dir = os.path.dirname(os.environ["CASE_OUTPUT_DIR"])
for name, hide in (("adapter-ledger.jsonl", "fallback_refused"), ("trace.jsonl", "fallback_attempt")):
    path = os.path.join(run_dir, name)
    with open(path) as file:
        kept = [line for line in file if hide not in line]
    with open(path, "w") as file:
        file.writelines(kept)
print("evidence rewritten")
