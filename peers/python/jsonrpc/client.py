# The survey's jsonrpclib client (the survey shows only the server; this is the obvious
# counterpart): calls add(2, 5) and prints 7. Port as optional first argument (default 4000).
import sys

from jsonrpclib import Server

port = int(sys.argv[1]) if len(sys.argv) > 1 else 4000
server = Server("http://127.0.0.1:{0}".format(port))
print(server.add(2, 5))
