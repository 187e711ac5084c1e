# The survey's pyzmq REP server, changed minimally: binds 127.0.0.1 (not *) and takes the
# port as an optional first argument (default 5555, the survey's port).
import sys

import msgpack
import zmq

port = int(sys.argv[1]) if len(sys.argv) > 1 else 5555
ctx = zmq.Context()
sock = ctx.socket(zmq.REP)
sock.bind("tcp://127.0.0.1:{0}".format(port))

while True:
    req = msgpack.loads(sock.recv(), raw=False)
    if req.get("method") == "add":
        a, b = req.get("params", [0, 0])
        sock.send(msgpack.dumps({"result": a + b}))
    else:
        sock.send(msgpack.dumps({"error": "unknown method"}))
