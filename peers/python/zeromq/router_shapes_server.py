# A pyzmq ROUTER server for the survey's message contract (one request at a time, in arrival
# order, ignoring "id"), answering in the shapes other hand-written servers use:
#   add      {"error": None, "result": a + b}      nothing  {"result": None}
#   fail     {"error": "disk on fire"}              listing  [1, 2] (not a map)
#   two      the reply, then a second frame         big      {"result": 2**64 - 1}
#   stamp    {"result": Timestamp(1, 5)}            anything else  {"error": "unknown method"}
# Usage: router_shapes_server.py [port]
import sys

import msgpack
import zmq

port = int(sys.argv[1]) if len(sys.argv) > 1 else 5555
ctx = zmq.Context()
sock = ctx.socket(zmq.ROUTER)
sock.bind("tcp://127.0.0.1:{0}".format(port))

while True:
    frames = sock.recv_multipart()
    # the envelope: the routing id, up to and including the empty delimiter
    at = frames.index(b"", 1) + 1 if b"" in frames[1:] else 1
    envelope, body = frames[:at], frames[at]
    req = msgpack.loads(body, raw=False)
    method, params = req.get("method"), req.get("params", [])
    extra = []
    if method == "add":
        reply = {"error": None, "result": params[0] + params[1]}
    elif method == "nothing":
        reply = {"result": None}
    elif method == "fail":
        reply = {"error": "disk on fire"}
    elif method == "listing":
        reply = [1, 2]
    elif method == "two":
        reply = {"result": 1}
        extra = [msgpack.dumps({"result": 2})]
    elif method == "big":
        reply = {"result": 2**64 - 1}
    elif method == "stamp":
        reply = {"result": msgpack.Timestamp(1, 5)}
    else:
        reply = {"error": "unknown method"}
    sock.send_multipart(envelope + [msgpack.dumps(reply)] + extra)
