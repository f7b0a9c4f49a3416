"""Writes its whole environment to case-output/env.json, with the per-run token masked."""
import json, os

token = os.environ.get("CASE_API_KEY", "")
env = {name: ("<case-token>" if token and value == token else value) for name, value in os.environ.items()}
with open(os.path.join(os.environ["CASE_OUTPUT_DIR"], "env.json"), "w") as out:
    json.dump(env, out, indent=1, sort_keys=True)
with open(os.path.join(os.environ["CASE_OUTPUT_DIR"], "result.json"), "w") as out:
    json.dump({"verdict": "fail", "note": "environment dump only"}, out)
