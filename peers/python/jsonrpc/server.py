# The survey's jsonrpclib server, changed minimally: binds 127.0.0.1 (not 0.0.0.0) and takes
# the port as an optional first argument (default 4000, the survey's port).
import sys

from jsonrpclib.SimpleJSONRPCServer import SimpleJSONRPCServer

def add(a, b):
    return a + b

port = int(sys.argv[1]) if len(sys.argv) > 1 else 4000
server = SimpleJSONRPCServer(("127.0.0.1", port))
server.register_function(add)
server.serve_forever()
