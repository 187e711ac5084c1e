# The survey's REQ client (the survey names client.py but shows only the server): sends
# {"method": "add", "params": [2, 5]} and prints the decoded reply, {'result': 7}.
# Connects to 127.0.0.1; the port is an optional first argument (default 5555).
import sys

import msgpack
import zmq

port = int(sys.argv[1]) if len(sys.argv) > 1 else 5555
ctx = zmq.Context()
sock = ctx.socket(zmq.REQ)
sock.connect("tcp://127.0.0.1:{0}".format(port))

sock.send(msgpack.dumps({"method": "add", "params": [2, 5]}))
print(msgpack.loads(sock.recv(), raw=False))
