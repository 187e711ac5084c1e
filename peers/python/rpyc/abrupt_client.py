# An RPyC client that dies without closing, in the middle of a call: "callback" passes a
# function the server calls back, which kills this process while the server waits for its
# answer; "upload" kills the process after sending half of a 10 MiB echo request. Port as
# argv[1], mode as argv[2]. Prints add(2, 5) first; exits with status 3 when it dies as planned.
import os
import sys

import rpyc

port, mode = int(sys.argv[1]), sys.argv[2]
conn = rpyc.connect("127.0.0.1", port)
print(conn.root.add(2, 5), flush=True)
if mode == "callback":
    conn.root.apply(lambda a, b: os._exit(3), 1, 2)
elif mode == "upload":
    sock = conn._channel.stream.sock
    real_send = sock.send

    def send_half(data):
        real_send(bytes(data[: len(data) // 2]))
        os._exit(3)

    conn._channel.stream.sock = type("Half", (), {"send": staticmethod(send_half), "close": sock.close})()
    conn.root.echo(os.urandom(10 * 1024 * 1024))
