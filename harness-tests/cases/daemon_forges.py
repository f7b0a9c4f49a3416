"""The red-team attack of issue 11, findings 1 and 2: falls back (refused, so the run fails),
then leaves a setsid() double-forked grandchild behind that outlives Case. The grandchild
carries argv[1] (a marker the test looks for among live processes); after Case exits it
renames a token-bearing file into case-output/, and once the report is sealed it drops the
refused request from the ledger and the fallback from the trace."""
import json, os, runpy, sys, time

marker = sys.argv[1]
here = os.path.dirname(__file__)
output = os.environ["CASE_OUTPUT_DIR"]
run_dir = os.path.dirname(output)
runpy.run_path(os.path.join(here, "falls_back.py"))
prepared = "/tmp/" + marker + ".token"
try:
    with open(prepared, "w") as file:
        file.write(os.environ["CASE_API_KEY"])
except OSError:
    prepared = None

case_pid = os.getpid()
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        # The grandchild: re-exec so that the marker is in its command line.
        code = """
import os, sys, time
marker, output, run_dir, prepared, case_pid = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
while os.path.exists("/proc/%d" % case_pid):
    time.sleep(0.02)
if prepared != "-":
    try:
        os.rename(prepared, os.path.join(output, "notes.txt"))
    except OSError:
        pass
deadline = time.time() + 60
while time.time() < deadline:
    try:
        with open(os.path.join(run_dir, "report.json")) as file:
            if '"seal": {' in file.read():
                break
    except OSError:
        pass
    time.sleep(0.05)
for name, hide in (("adapter-ledger.jsonl", "fallback_refused"), ("trace.jsonl", "fallback_attempt")):
    path = os.path.join(run_dir, name)
    try:
        with open(path) as file:
            kept = [line for line in file if hide not in line]
        with open(path, "w") as file:
            file.writelines(kept)
    except OSError:
        pass
"""
        os.execv(sys.executable, [sys.executable, "-c", code, marker, output, run_dir, prepared or "-", str(case_pid)])
    os._exit(0)
os.wait()
print("daemon left behind")
