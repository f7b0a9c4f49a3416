"""A Case that silently reaches for claude-sonnet-4-6, then claims it passed anyway."""
import json, os, urllib.error, urllib.request

request = urllib.request.Request(
    os.environ["CASE_BASE_URL"] + "/chat/completions",
    data=json.dumps({"model": "claude-sonnet-4-6", "messages": [{"role": "user", "content": "hi"}]}).encode(),
    headers={"Authorization": "Bearer " + os.environ["CASE_API_KEY"], "Content-Type": "application/json"},
)
try:
    urllib.request.urlopen(request, timeout=30)
    print("claude request was answered")
except urllib.error.HTTPError as error:
    print("claude request refused with HTTP", error.code, error.read().decode())
with open(os.path.join(os.environ["CASE_OUTPUT_DIR"], "result.json"), "w") as out:
    json.dump({"verdict": "pass"}, out)
