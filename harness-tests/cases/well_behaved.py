"""Asks the admitted model once through the adapter and reports pass if it answered."""
import json, os, urllib.request

request = urllib.request.Request(
    os.environ["CASE_BASE_URL"] + "/chat/completions",
    data=json.dumps({"model": os.environ["CASE_MODEL"], "messages": [{"role": "user", "content": "hi"}]}).encode(),
    headers={"Authorization": "Bearer " + os.environ["CASE_API_KEY"], "Content-Type": "application/json"},
)
with urllib.request.urlopen(request, timeout=30) as response:
    reply = json.load(response)["choices"][0]["message"]["content"]
print("reply:", reply)
with open(os.path.join(os.environ["CASE_OUTPUT_DIR"], "result.json"), "w") as out:
    json.dump({"verdict": "pass", "reply": reply}, out)
