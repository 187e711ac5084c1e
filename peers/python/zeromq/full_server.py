# The full Calculator contract on the survey's REP pattern: add, divide (ZeroDivisionError
# becomes {"error": {"code": "DIVIDE_BY_ZERO", ...}}), echo of bytes, plus describe_params,
# which reports the Python type each parameter arrived as (a msgpack fidelity probe).
# Echoes a request's "id" when present, as rpclab's pipelining clients expect.
# Usage: python full_server.py [port]
import sys

import msgpack
import zmq


def add(a, b):
    return a + b


def divide(a, b):
    return a / b


def echo(data):
    return data


def describe_params(*params):
    return [type(p).__name__ for p in params]


METHODS = {"add": add, "divide": divide, "echo": echo, "describe_params": describe_params}
CODES = {ZeroDivisionError: "DIVIDE_BY_ZERO", TypeError: "INVALID_ARGUMENT", ValueError: "INVALID_ARGUMENT"}


def handle(raw):
    try:
        req = msgpack.loads(raw, raw=False)
    except Exception as err:
        return {"error": {"code": "PROTOCOL", "message": "bad msgpack: {0}".format(err)}}
    if not isinstance(req, dict):
        return {"error": {"code": "PROTOCOL", "message": "request must be a map"}}
    reply = {}
    if "id" in req:
        reply["id"] = req["id"]
    fn = METHODS.get(req.get("method"))
    if fn is None:
        reply["error"] = {"code": "NO_SUCH_METHOD", "message": "unknown method: {0}".format(req.get("method"))}
        return reply
    try:
        reply["result"] = fn(*req.get("params", []))
    except Exception as err:
        code = CODES.get(type(err), "INTERNAL")
        reply["error"] = {"code": code, "message": str(err), "type": type(err).__name__}
    return reply


port = int(sys.argv[1]) if len(sys.argv) > 1 else 5555
ctx = zmq.Context()
sock = ctx.socket(zmq.REP)
sock.bind("tcp://127.0.0.1:{0}".format(port))

while True:
    sock.send(msgpack.dumps(handle(sock.recv())))
