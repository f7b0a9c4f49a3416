"""Never finishes on its own (and starts a child that would outlive it)."""
import subprocess, sys, time

subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
time.sleep(600)
