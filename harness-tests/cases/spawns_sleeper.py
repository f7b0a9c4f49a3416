"""Starts a child that sleeps with argv[1] (a marker) in its command line, then sleeps itself:
for killing the harness mid-run and checking that nothing Case started survives."""
import subprocess, sys, time

marker = sys.argv[1]
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", marker])
print("sleeper started", flush=True)
time.sleep(600)
