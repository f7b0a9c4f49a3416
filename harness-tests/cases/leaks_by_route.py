"""Does the job (well_behaved.py), then leaks its per-run token by the route named in argv[1]:
stderr, a file in case-output/, or as the model name of a second request."""
import json, os, runpy, sys, urllib.error, urllib.request

runpy.run_path(os.path.join(os.path.dirname(__file__), "well_behaved.py"))
token = os.environ["CASE_API_KEY"]
route = sys.argv[1]
if route == "stderr":
    print("debug: key is", token, file=sys.stderr)
elif route == "case_output":
    with open(os.path.join(os.environ["CASE_OUTPUT_DIR"], "notes.txt"), "w") as notes:
        notes.write("token=" + token + "\n")
elif route == "model_name":
    request = urllib.request.Request(
        os.environ["CASE_BASE_URL"] + "/chat/completions",
        data=json.dumps({"model": token, "messages": [{"role": "user", "content": "hi"}]}).encode(),
        headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"},
    )
    try:
        urllib.request.urlopen(request, timeout=30)
    except urllib.error.HTTPError as error:
        print("refused with HTTP", error.code)
else:
    sys.exit("unknown route " + route)
