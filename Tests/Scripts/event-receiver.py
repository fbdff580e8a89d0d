# A user's event receiver, as the README describes one: a separate process that checks every
# delivery with docs/verify-webhook.py and keeps what it accepted. Used by the event webhook tests.
#
#   python3 event-receiver.py PORT OUT_FILE        (the secret in EVENT_SECRET)
#
# POST /ok    verified: 200 and one JSON line {"id", "type", "subject", "data", "verified"} in
#             OUT_FILE; not verified: 400 and a line with "verified": false.
# POST /gone  410 Gone (the receiver was taken down for good).
# POST /fail  500.
# POST /tool  an agent's http tool: verified, the call recorded as {"headerId", "body", "verified"}
#             and answered {"booked": true, "slot": "Tuesday 10:00"}; not verified: 401.
import json, os, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "docs"))
import importlib.util

spec = importlib.util.spec_from_file_location(
    "verify_webhook", os.path.join(os.path.dirname(__file__), "..", "..", "docs", "verify-webhook.py"))
verify_webhook = importlib.util.module_from_spec(spec)
spec.loader.exec_module(verify_webhook)

port, out_path = int(sys.argv[1]), sys.argv[2]
secrets = os.environ["EVENT_SECRET"].split(",")


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        if self.path == "/gone":
            return self.answer(410)
        if self.path == "/fail":
            return self.answer(500)
        headers = {name.lower(): value for name, value in self.headers.items()}
        verified = any(verify_webhook.verify(secret, headers, body) for secret in secrets)
        if self.path == "/tool":
            with open(out_path, "a") as out:
                out.write(json.dumps({"headerId": headers.get("webhook-id"), "body": json.loads(body),
                                      "verified": verified}) + "\n")
            if not verified:
                return self.answer(401)
            answer = json.dumps({"booked": True, "slot": "Tuesday 10:00"}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)
            return
        event = json.loads(body)
        line = {"id": event["id"], "headerId": headers.get("webhook-id"), "type": event["type"],
                "subject": event["subject"], "data": event["data"], "verified": verified}
        with open(out_path, "a") as out:
            out.write(json.dumps(line) + "\n")
        self.answer(200 if verified else 400)

    def answer(self, status):
        self.send_response(status)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
print("listening", flush=True)
server.serve_forever()
