# The full Calculator contract on jsonrpclib's SimpleJSONRPCServer, in our wire format:
# bytes travel as base64 strings, and divide by zero is a JSON-RPC error with application
# code 1001 and data {"code": "DIVIDE_BY_ZERO"} (see docs/protocols/jsonrpc.md).
# jsonrpclib's Fault is not an exception class: a function signals an error by *returning*
# one, which the dispatcher sends as the response's error object.
# Usage: python full_server.py [port]   (default 4000)
import base64
import sys

from jsonrpclib import Fault
from jsonrpclib.SimpleJSONRPCServer import SimpleJSONRPCServer

DIVIDE_BY_ZERO = 1001


def add(a, b):
    return a + b


def divide(a, b):
    try:
        return float(a) / float(b)
    except ZeroDivisionError:
        return Fault(DIVIDE_BY_ZERO, "division by zero", data={"code": "DIVIDE_BY_ZERO"})


def echo(data):
    # Decode and re-encode so a non-base64 argument fails instead of being echoed as text.
    return base64.b64encode(base64.b64decode(data, validate=True)).decode("ascii")


port = int(sys.argv[1]) if len(sys.argv) > 1 else 4000
server = SimpleJSONRPCServer(("127.0.0.1", port), logRequests=False)
server.register_function(add)
server.register_function(divide)
server.register_function(echo)
server.serve_forever()
