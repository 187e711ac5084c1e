# The survey's msgpack-rpc-python server, changed minimally so that it runs: msgpack-rpc-python
# 0.4.1's Server looks methods up as attributes of a dispatcher object (hasattr/getattr), so the
# survey's Server({"add": add}) answers every call with "'add' method not found"; the same
# table as a SimpleNamespace works. Also binds 127.0.0.1 (not 0.0.0.0) and takes the port as
# an optional first argument (default 7001, the survey's port).
import sys
from types import SimpleNamespace

from msgpackrpc import Address, Server


def add(a, b):
    return a + b


port = int(sys.argv[1]) if len(sys.argv) > 1 else 7001
server = Server(SimpleNamespace(**{"add": add}))
server.listen(Address("127.0.0.1", port))
server.start()
