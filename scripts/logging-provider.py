#!/usr/bin/env python3
"""A logging Anthropic-Messages stand-in on 127.0.0.1, to measure what a real agent sends.

Every request is appended to a JSON-lines log (method, path, headers, JSON body); the values of
credential headers (`x-api-key`, `authorization`) are replaced by their length, so a log can be
kept as a fixture. `POST /v1/messages` is answered with one fixed text reply, streamed when the
request asks for it; `HEAD /` and `GET` answer 200 with an empty body.

    python3 scripts/logging-provider.py --port 0 --log /tmp/requests.jsonl --reply "Paris."

Prints `PORT=<n>` on stdout once listening (with `--port 0` the kernel picks one). It binds only
127.0.0.1 and stops after `--max-requests` requests (default 50), so a misbehaving client cannot
keep it busy."""
import argparse
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CREDENTIAL_HEADERS = {"x-api-key", "authorization", "proxy-authorization", "cookie"}

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, default=0)
parser.add_argument("--log", required=True)
parser.add_argument("--reply", default="Paris.")
parser.add_argument("--max-requests", type=int, default=50)
args = parser.parse_args()

lock = threading.Lock()
served = 0


def record(handler, body):
    global served
    headers = {}
    for name, value in handler.headers.items():
        if name.lower() in CREDENTIAL_HEADERS:
            value = f"<redacted: {len(value)} chars>"
        headers[name] = value
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        parsed = {"unparsed_bytes": len(body)}
    entry = {"method": handler.command, "path": handler.path, "headers": headers, "body": parsed,
             "body_bytes": len(body)}
    with lock:
        served += 1
        with open(args.log, "a", encoding="utf-8") as log:
            log.write(json.dumps(entry) + "\n")
        if served >= args.max_requests:
            threading.Thread(target=server.shutdown, daemon=True).start()
    return parsed


def message(model):
    return {"id": "msg_logging_1", "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": args.reply}], "stop_reason": "end_turn",
            "stop_sequence": None, "usage": {"input_tokens": 10, "output_tokens": 3}}


def sse(name, data):
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _read(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status, body, content_type="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self):
        record(self, b"")
        self._send(200, b"")

    def do_GET(self):
        record(self, b"")
        self._send(200, b"{}")

    def do_POST(self):
        body = record(self, self._read()) or {}
        if not self.path.startswith("/v1/messages"):
            self._send(404, b'{"type":"error","error":{"type":"not_found_error","message":"no such route"}}')
            return
        if self.path.startswith("/v1/messages/count_tokens"):
            self._send(200, b'{"input_tokens": 10}')
            return
        reply = message(body.get("model", "unknown"))
        if not body.get("stream"):
            self._send(200, json.dumps(reply).encode())
            return
        start = dict(reply, content=[], stop_reason=None, usage={"input_tokens": 10, "output_tokens": 0})
        events = b"".join([
            sse("message_start", {"type": "message_start", "message": start}),
            sse("content_block_start", {"type": "content_block_start", "index": 0,
                                        "content_block": {"type": "text", "text": ""}}),
            sse("content_block_delta", {"type": "content_block_delta", "index": 0,
                                        "delta": {"type": "text_delta", "text": args.reply}}),
            sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
            sse("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn",
                                  "stop_sequence": None}, "usage": {"output_tokens": 3}}),
            sse("message_stop", {"type": "message_stop"}),
        ])
        self._send(200, events, "text/event-stream")

    def log_message(self, *_):
        pass


server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
print(f"PORT={server.server_address[1]}", flush=True)
server.serve_forever()
sys.exit(0)
