"""Asks the admitted model through the adapter, and also tries a decoy server on the host's
127.0.0.1:PORT (argv[1]) with the per-run token, as a Case re-routed by a settings file would.
Records what the decoy attempt did in case-output/decoy.json and claims pass."""
import json, os, runpy, socket, sys

port = int(sys.argv[1])
try:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        connection.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: decoy\r\nAuthorization: Bearer "
                           + os.environ["CASE_API_KEY"].encode() + b"\r\nContent-Length: 0\r\n\r\n")
        attempt = "connected"
except OSError as error:
    attempt = "refused: " + error.__class__.__name__
with open(os.path.join(os.environ["CASE_OUTPUT_DIR"], "decoy.json"), "w") as out:
    json.dump({"decoy": attempt}, out)
print("decoy attempt:", attempt)
runpy.run_path(os.path.join(os.path.dirname(__file__), "well_behaved.py"))
