"""Does the job, but leaks its per-run token into its stdout (a backend log)."""
import json, os, runpy

runpy.run_path(os.path.join(os.path.dirname(__file__), "well_behaved.py"))
print("debug: using key", os.environ["CASE_API_KEY"])
