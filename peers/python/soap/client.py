# The survey's zeep client (the survey names examples/soap/client.py but shows only the
# service): reads the service's WSDL, calls add(2, 5) and prints the result, 7.
# Connects to 127.0.0.1; the port is an optional first argument (default 8000).
import sys

from zeep import Client

port = int(sys.argv[1]) if len(sys.argv) > 1 else 8000
client = Client(f"http://127.0.0.1:{port}/?wsdl")
print(client.service.add(2, 5))
