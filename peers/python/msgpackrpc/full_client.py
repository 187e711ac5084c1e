# Calls the full Calculator contract with msgpack-rpc-python 0.4.1's Client and prints ONE JSON
# line:
# {"add": 7, "add_type": "int", "divide": 2.0, "divide_type": "float",
#  "divide_by_zero": "DIVIDE_BY_ZERO: division by zero", "echo_ok": true, "echo_type": "bytes",
#  "unknown": "NO_SUCH_METHOD: ...", "text": ..., "pipelined": [...], "notified": ...}
# The library unpacks with raw=True, so an error map arrives with bytes keys and values, and a
# str result as bytes; both are decoded here for the report.
# Usage: python full_client.py [port]
import json
import os
import sys

from msgpackrpc import Address, Client
from msgpackrpc.error import RPCError

port = int(sys.argv[1]) if len(sys.argv) > 1 else 7001
client = Client(Address("127.0.0.1", port), timeout=20)


def text(value):
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def error_text(call):
    try:
        return "no error: {0!r}".format(call())
    except RPCError as err:
        detail = err.args[0] if err.args else err
        if isinstance(detail, dict):
            detail = {text(k): text(v) for k, v in detail.items()}
            return "{0}: {1}".format(detail.get("code"), detail.get("message"))
        return text(detail) if isinstance(detail, (bytes, str)) else repr(detail)


out = {}
added = client.call("add", 2, 5)
out["add"] = added
out["add_type"] = type(added).__name__
divided = client.call("divide", 6.0, 3.0)
out["divide"] = divided
out["divide_type"] = type(divided).__name__
out["divide_by_zero"] = error_text(lambda: client.call("divide", 1, 0))
data = os.urandom(1024 * 1024)
back = client.call("echo", data)
out["echo_ok"] = back == data
out["echo_type"] = type(back).__name__
ascii_bytes = b"plain ascii bytes"  # valid UTF-8: sent as raw str, taken as bytes by the contract
out["echo_ascii_ok"] = client.call("echo", ascii_bytes) == ascii_bytes
out["unknown"] = error_text(lambda: client.call("multiply", 2, 3))
out["bad_argument"] = error_text(lambda: client.call("add", "x", 2))
futures = [client.call_async("add", i, i) for i in range(50)]
out["pipelined"] = [f.get() for f in futures]
print(json.dumps(out))
