# The full Calculator contract served by msgpack-rpc-python 0.4.1, written the way its users
# write servers: a dispatcher object whose methods are found by name. Errors are what the
# library sends for any exception, str(exception) ("float division by zero"), and an unknown
# method is "'multiply' method not found". Strings arrive as bytes (the library unpacks with
# raw=True), so echo returns bytes whatever it was sent. describe_params reports the Python type
# each parameter arrived as (a msgpack fidelity probe); notes records notifications, and
# notes_seen returns them.
# Usage: python full_server.py [port]
import sys

from msgpackrpc import Address, Server


class Calculator(object):
    def __init__(self):
        self._notes = []

    def add(self, a, b):
        return a + b

    def divide(self, a, b):
        return a / b

    def echo(self, data):
        return data

    def describe_params(self, *params):
        return [type(p).__name__ for p in params]

    def note(self, *params):
        self._notes.append(list(params))

    def notes_seen(self):
        return self._notes


port = int(sys.argv[1]) if len(sys.argv) > 1 else 7001
server = Server(Calculator())
server.listen(Address("127.0.0.1", port))
server.start()
