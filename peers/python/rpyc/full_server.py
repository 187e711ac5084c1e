# A fuller RPyC service for interop tests: add, divide (ZeroDivisionError on b == 0), echo of
# bytes, apply(fn, a, b) calling back a function the client passed in, and make_list() returning
# a Python list by reference. Port as the first argument (default 18861).
import sys

import rpyc
from rpyc.utils.server import ThreadedServer

port = int(sys.argv[1]) if len(sys.argv) > 1 else 18861


class CalculatorService(rpyc.Service):
    def exposed_add(self, a, b):
        return a + b

    def exposed_divide(self, a, b):
        return a / b  # b == 0 raises ZeroDivisionError, rpyc's native remote exception

    def exposed_echo(self, data):
        return data

    def exposed_apply(self, fn, a, b):
        return fn(a, b)

    def exposed_make_list(self, *items):
        return list(items)

    def exposed_type_names(self, *args):
        return tuple(type(a).__name__ for a in args)

    def exposed_fail(self, kind):
        raise {"value": ValueError, "key": KeyError, "runtime": RuntimeError}[kind](f"{kind} failure")


server = ThreadedServer(CalculatorService, hostname="127.0.0.1", port=port, protocol_config={"allow_public_attrs": True})
server.start()
