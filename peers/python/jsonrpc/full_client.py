# Calls the full Calculator contract on a JSON-RPC server with jsonrpclib and prints ONE JSON
# line: {"add": 7, "divide_by_zero": "...", "divide_by_zero_code": ..., "divide_by_zero_data": ...,
#        "echo_ok": true, "batch": [3, 7]}
# Bytes travel as base64 strings (our wire format). Usage: python full_client.py [port]
import base64
import json
import os
import sys

import jsonrpclib
from jsonrpclib import Server

port = int(sys.argv[1]) if len(sys.argv) > 1 else 4000
server = Server("http://127.0.0.1:{0}".format(port))
out = {"add": server.add(2, 5)}

try:
    server.divide(1, 0)
    out["divide_by_zero"] = "no error raised"
except jsonrpclib.jsonrpc.ProtocolError as err:
    # Application codes arrive as AppError((code, message, data)); reserved ones as
    # ProtocolError((code, message)).
    details = err.args[0]
    out["divide_by_zero"] = "{0}: {1}".format(type(err).__name__, details)
    out["divide_by_zero_code"] = details[0]
    out["divide_by_zero_data"] = details[2] if len(details) > 2 else None

data = os.urandom(1024 * 1024)
back = base64.b64decode(server.echo(base64.b64encode(data).decode("ascii")))
out["echo_ok"] = back == data

# A JSON-RPC batch (jsonrpclib's MultiCall sends one array of requests).
batch = jsonrpclib.MultiCall(server)
batch.add(1, 2)
batch.add(3, 4)
out["batch"] = list(batch())

print(json.dumps(out))
