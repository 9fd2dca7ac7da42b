"""A fake OpenClaw gateway for the sandbox-agent's tests.

    fake_gateway.py ... --port PORT ...     (other arguments are ignored, like openclaw's)

Serves GET /readyz ({"ready": false} until FAKE_READY_AFTER seconds have passed) and
POST /v1/chat/completions (401 unless Authorization is "Bearer <token>"), answering with a
chunked SSE stream.

- Token: gateway.auth.token from the file at OPENCLAW_CONFIG_PATH if set, else FAKE_TOKEN.
- Echo mode (no config file): the first event echoes the session header and the request's
  model; if FAKE_GATE names a file, the last events wait until that file exists.
- Relay mode (config file): the chat request is sent on to the configured provider's
  <baseUrl>/chat/completions with its apiKey, and the provider's answer streamed back.
- At start the environment, argv, cwd and pid are written to $FAKE_ENV_OUT or
  <OPENCLAW_STATE_DIR>/fake-env.json.
- If FAKE_STRAY names a file, a sleeping child is started in a session (and process group) of
  its own, like the real gateway's spawn broker, and its pid written there.
"""
import http.server
import json
import os
import subprocess
import sys
import time
import urllib.request

port = int(sys.argv[sys.argv.index("--port") + 1])
config_path = os.environ.get("OPENCLAW_CONFIG_PATH")
config = json.load(open(config_path)) if config_path else None
token = config["gateway"]["auth"]["token"] if config else os.environ["FAKE_TOKEN"]
ready_after = float(os.environ.get("FAKE_READY_AFTER", "0"))
gate = os.environ.get("FAKE_GATE")
env_out = os.environ.get("FAKE_ENV_OUT") or (
    os.path.join(os.environ["OPENCLAW_STATE_DIR"], "fake-env.json")
    if "OPENCLAW_STATE_DIR" in os.environ else None)
if env_out:
    with open(env_out, "w") as f:
        json.dump({"env": dict(os.environ), "argv": sys.argv, "cwd": os.getcwd(),
                   "pid": os.getpid()}, f)
if os.environ.get("FAKE_STRAY"):
    stray = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"],
                             start_new_session=True)
    with open(os.environ["FAKE_STRAY"], "w") as f:
        f.write(str(stray.pid))
started = time.monotonic()
print(f"fake gateway on {port}", flush=True)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send_json(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def do_GET(self):
        if self.path == "/readyz":
            ready = time.monotonic() - started >= ready_after
            self.send_json(200 if ready else 503, {"ready": ready})
        else:
            self.send_json(404, {"error": "no route"})

    def do_POST(self):
        if self.path != "/v1/chat/completions":
            return self.send_json(404, {"error": "no route"})
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        if self.headers.get("authorization") != "Bearer " + token:
            return self.send_json(401, {"error": {"message": "Unauthorized", "type": "unauthorized"}})
        request = json.loads(body)
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        if config:
            self.relay(request)
        else:
            first = {"session": self.headers.get("x-openclaw-session-key"),
                     "model": request.get("model")}
            self.chunk(b"data: " + json.dumps(first).encode() + b"\n\n")
            deadline = time.monotonic() + 20
            while gate and not os.path.exists(gate) and time.monotonic() < deadline:
                time.sleep(0.02)
            self.chunk(b'data: {"last":true}\n\n')
            self.chunk(b"data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def relay(self, request):
        provider = config["models"]["providers"]["ocaas"]
        upstream = urllib.request.Request(
            provider["baseUrl"] + "/chat/completions",
            data=json.dumps({"model": "default", "stream": True,
                             "messages": request["messages"]}).encode(),
            headers={"content-type": "application/json",
                     "authorization": "Bearer " + provider["apiKey"]},
            method="POST")
        with urllib.request.urlopen(upstream) as resp:
            while True:
                data = resp.read1(65536)
                if not data:
                    break
                self.chunk(data)


http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
