"""Claims a pass without asking any model."""
import json, os

with open(os.path.join(os.environ["CASE_OUTPUT_DIR"], "result.json"), "w") as out:
    json.dump({"verdict": "pass"}, out)
