"""A minimal OpenAI-compatible server that, like llama-cpp-python, names its model file on its
command line: `model_server.py --model PATH --port PORT --alias NAME`. It never reads the file;
the harness finds it through /proc and checks the admission's model_sha256 against it.
With `--props-model PATH` it also answers llama-server's `GET /props` naming PATH as its model
(as a server that describes itself, truthfully or not)."""
import argparse, json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

parser = argparse.ArgumentParser()
parser.add_argument("--model", required=True)
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--alias", required=True)
parser.add_argument("--props-model")
args = parser.parse_args()


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/props" and args.props_model:
            body = json.dumps({"model_path": args.props_model, "build_info": "b0-stub", "model_alias": args.alias}).encode()
        elif self.path == "/v1/models":
            body = json.dumps({"object": "list", "data": [{"id": args.alias, "object": "model"}]}).encode()
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        self.send_error(404)

    def log_message(self, *_):
        pass


ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()
