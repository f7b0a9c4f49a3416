"""The Python keep-alive client of benches/side_by_side (what SDK users have in front of a proxy).

Reads on stdin {"warmup", "budget_s", "body", "answer", "lanes": [{"label", "host", "port",
"token", "cap"}]}, sends the same chat completion round-robin over the lanes (one keep-alive
http.client connection each, TCP_NODELAY as http.client sets it), and prints on stdout
{"label": {"samples_us": [...], "errors": n, "first_error": "..."}}. Only the hosts given
(127.0.0.1, started by the bench) are contacted. Standard library only.
"""

import http.client
import json
import sys
import time


def main():
    spec = json.load(sys.stdin)
    lanes = spec["lanes"]
    body = spec["body"].encode()
    answer = spec["answer"].encode()
    conns = [http.client.HTTPConnection(lane["host"], lane["port"], timeout=15) for lane in lanes]
    results = {lane["label"]: {"samples_us": [], "errors": 0, "first_error": None} for lane in lanes}

    def send(index):
        lane = lanes[index]
        headers = {"Content-Type": "application/json"}
        if lane.get("token"):
            headers["Authorization"] = "Bearer " + lane["token"]
        started = time.perf_counter_ns()
        try:
            conns[index].request("POST", "/v1/chat/completions", body, headers)
            response = conns[index].getresponse()
            data = response.read()
        except Exception as err:  # a broken connection is an error, and a fresh one next time
            conns[index].close()
            return None, f"{lane['label']}: {err!r}"
        elapsed = (time.perf_counter_ns() - started) / 1000.0
        if response.status != 200 or answer not in data:
            return None, f"{lane['label']} {response.status}: {data[:200]!r}"
        return elapsed, None

    for _ in range(spec["warmup"]):
        for index in range(len(lanes)):
            send(index)
    deadline = time.monotonic() + spec["budget_s"]
    while time.monotonic() < deadline:
        sent = False
        for index, lane in enumerate(lanes):
            into = results[lane["label"]]
            if len(into["samples_us"]) + into["errors"] < lane["cap"]:
                sent = True
                elapsed, error = send(index)
                if error is None:
                    into["samples_us"].append(elapsed)
                else:
                    into["errors"] += 1
                    into["first_error"] = into["first_error"] or error
        if not sent:
            break
    json.dump(results, sys.stdout)


main()
