# The survey's RPyC server, changed minimally: binds 127.0.0.1 and takes the port as the first
# argument (default: the survey's 18861).
import sys

import rpyc
from rpyc.utils.server import ThreadedServer

port = int(sys.argv[1]) if len(sys.argv) > 1 else 18861


class CalculatorService(rpyc.Service):
    def exposed_add(self, a, b):
        return a + b


server = ThreadedServer(CalculatorService, hostname="127.0.0.1", port=port, protocol_config={"allow_public_attrs": True})
server.start()
