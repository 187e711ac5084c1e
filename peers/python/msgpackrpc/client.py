# The survey's client (it names examples/msgpackrpc/client.py but shows only the server): calls
# add(2, 5) with msgpack-rpc-python 0.4.1 and prints the result, 7.
# Connects to 127.0.0.1; the port is an optional first argument (default 7001).
import sys

from msgpackrpc import Address, Client

port = int(sys.argv[1]) if len(sys.argv) > 1 else 7001
client = Client(Address("127.0.0.1", port), timeout=10)
print(client.call("add", 2, 5))
