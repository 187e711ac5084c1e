# A JSON-RPC 2.0 server with no JSON-RPC library: Python's http.server and json only, written
# from the spec (jsonrpc.org/specification), in our wire conventions (bytes as base64, divide by
# zero as application code 1001 with data {"code": "DIVIDE_BY_ZERO"}). A second, independent
# server next to jsonrpclib's, for test/interop/jsonrpc-raw.test.ts.
# Usage: python server.py [port]   (default 4000)
import base64
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

I32_MIN, I32_MAX = -(2 ** 31), 2 ** 31 - 1


class RpcError(Exception):
    def __init__(self, code, message, data=None):
        super().__init__(message)
        self.code, self.message, self.data = code, message, data


def i32(name, value):
    if type(value) is not int or not I32_MIN <= value <= I32_MAX:
        raise RpcError(-32602, "%s must be a 32-bit integer" % name, {"code": "INVALID_ARGUMENT"})
    return value


def number(name, value):
    if isinstance(value, str) and value in ("Infinity", "-Infinity", "NaN"):
        return float(value)
    if type(value) not in (int, float):
        raise RpcError(-32602, "%s must be a number" % name, {"code": "INVALID_ARGUMENT"})
    return float(value)


def add(a, b):
    total = i32("a", a) + i32("b", b)
    if not I32_MIN <= total <= I32_MAX:
        raise RpcError(-32602, "add: result out of the 32-bit range", {"code": "INVALID_ARGUMENT"})
    return total


def divide(a, b):
    a, b = number("a", a), number("b", b)
    if b == 0:
        raise RpcError(1001, "division by zero", {"code": "DIVIDE_BY_ZERO"})
    return a / b


def echo(data):
    try:
        raw = base64.b64decode(data, validate=True)
    except Exception:
        raise RpcError(-32602, "data must be base64", {"code": "INVALID_ARGUMENT"})
    return base64.b64encode(raw).decode("ascii")


METHODS = {"add": (add, ["a", "b"]), "divide": (divide, ["a", "b"]), "echo": (echo, ["data"])}


def error(id_, code, message, data=None):
    err = {"code": code, "message": message}
    if data is not None:
        err["data"] = data
    return {"jsonrpc": "2.0", "id": id_, "error": err}


def handle(request):
    """One request object -> its response, or None for a notification."""
    if not isinstance(request, dict) or request.get("jsonrpc") != "2.0" or not isinstance(request.get("method"), str):
        return error(None, -32600, "Invalid Request")
    id_ = request.get("id")
    is_notification = "id" not in request
    params = request.get("params", [])
    if not isinstance(params, (list, dict)):
        return error(id_, -32600, "Invalid Request: params must be an array or an object")
    try:
        if request["method"] not in METHODS:
            raise RpcError(-32601, "Method not found: %s" % request["method"], {"code": "NO_SUCH_METHOD"})
        fn, names = METHODS[request["method"]]
        if isinstance(params, dict):
            if sorted(params) != sorted(names):
                raise RpcError(-32602, "expected parameters %s" % names, {"code": "INVALID_ARGUMENT"})
            params = [params[n] for n in names]
        if len(params) != len(names):
            raise RpcError(-32602, "%s takes %d arguments" % (request["method"], len(names)), {"code": "INVALID_ARGUMENT"})
        result = {"jsonrpc": "2.0", "id": id_, "result": fn(*params)}
    except RpcError as e:
        result = error(id_, e.code, e.message, e.data)
    return None if is_notification else result


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as our client expects

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        try:
            # utf-8-sig: a leading byte order mark is ignored (RFC 8259 §8.1 allows that).
            payload = json.loads(body.decode("utf-8-sig"))
        except (ValueError, UnicodeDecodeError, RecursionError):
            reply = error(None, -32700, "Parse error")
        else:
            if isinstance(payload, list):
                reply = [r for r in map(handle, payload) if r is not None] if payload else error(None, -32600, "empty batch")
                reply = reply or None
            else:
                reply = handle(payload)
        out = b"" if reply is None else json.dumps(reply).encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


port = int(sys.argv[1]) if len(sys.argv) > 1 else 4000
ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
