# Calls the full Calculator contract with a REQ socket and prints ONE JSON line:
# {"add": 7, "add_type": "int", "divide": 2.0, "divide_type": "float",
#  "divide_by_zero": "DIVIDE_BY_ZERO: division by zero", "echo_ok": true, "echo_type": "bytes",
#  "unknown": "NO_SUCH_METHOD: ..."}
# Usage: python full_client.py [port]
import json
import os
import sys

import msgpack
import zmq

port = int(sys.argv[1]) if len(sys.argv) > 1 else 5555
ctx = zmq.Context()
sock = ctx.socket(zmq.REQ)
sock.setsockopt(zmq.RCVTIMEO, 10000)  # fail, rather than hang, if the server never answers
sock.setsockopt(zmq.LINGER, 0)
sock.connect("tcp://127.0.0.1:{0}".format(port))


def call(method, *params):
    sock.send(msgpack.dumps({"method": method, "params": list(params)}))
    return msgpack.loads(sock.recv(), raw=False)


def error_text(reply):
    err = reply.get("error")
    if isinstance(err, dict):
        return "{0}: {1}".format(err.get("code"), err.get("message"))
    return "no error: {0!r}".format(reply) if err is None else str(err)


out = {}
added = call("add", 2, 5)["result"]
out["add"] = added
out["add_type"] = type(added).__name__
divided = call("divide", 6.0, 3.0)["result"]
out["divide"] = divided
out["divide_type"] = type(divided).__name__
out["divide_by_zero"] = error_text(call("divide", 1, 0))
data = os.urandom(1024 * 1024)
back = call("echo", data)["result"]
out["echo_ok"] = back == data
out["echo_type"] = type(back).__name__
out["unknown"] = error_text(call("multiply", 2, 3))
print(json.dumps(out))
