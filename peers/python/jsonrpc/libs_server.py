# The Calculator contract on jsonrpcserver 5.0.9, in our wire format: bytes travel as base64
# strings, and divide by zero is error code 1001 with data {"code": "DIVIDE_BY_ZERO"}
# (see docs/protocols/jsonrpc.md). dispatch() is wrapped in our own small http.server handler
# rather than jsonrpcserver's serve(), which writes no Content-Length (HTTP/1.0, one connection
# per call), serves one request at a time and logs every request to stderr.
# Usage: python libs_server.py [port]   (default 4000)
import base64
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from jsonrpcserver import Error, Success, dispatch, method

DIVIDE_BY_ZERO = 1001


@method
def add(a, b):
    return Success(a + b)


@method
def divide(a, b):
    try:
        return Success(float(a) / float(b))
    except ZeroDivisionError:
        return Error(DIVIDE_BY_ZERO, "division by zero", {"code": "DIVIDE_BY_ZERO"})


@method
def echo(data):
    # Decode and re-encode so a non-base64 argument fails instead of being echoed as text.
    return Success(base64.b64encode(base64.b64decode(data, validate=True)).decode("ascii"))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as our client reuses connections

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        reply = dispatch(self.rfile.read(length).decode("utf-8")).encode("utf-8")
        # dispatch() gives "" for notifications: answer 200 with an empty body.
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, format, *args):
        pass


port = int(sys.argv[1]) if len(sys.argv) > 1 else 4000
server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
server.daemon_threads = True
server.serve_forever()
