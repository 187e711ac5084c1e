# Calculator client through Apache Thrift's TMultiplexedProtocol ("Calculator:add" on the
# wire), as a client of a TMultiplexedProcessor would call. Prints ONE JSON line.
# Usage: multiplexed_client.py [port] [--protocol ...] [--transport ...]
import json

from options import parse

from calculator import Calculator
from calculator.ttypes import DivideByZero
from thrift.protocol.TMultiplexedProtocol import TMultiplexedProtocol
from thrift.Thrift import TApplicationException
from thrift.transport import TSocket

args = parse()
sock = TSocket.TSocket("127.0.0.1", args.port)
sock.setTimeout(10000)
transport = args.trans.getTransport(sock)
protocol = args.proto.getProtocol(transport)
transport.open()
out = {}
client = Calculator.Client(TMultiplexedProtocol(protocol, "Calculator"))
out["add"] = client.add(40, 2)
try:
    client.divide(1, 0)
except DivideByZero as e:
    out["divide_by_zero"] = "DivideByZero: %s" % e.message
try:
    Calculator.Client(TMultiplexedProtocol(protocol, "Nope")).add(1, 1)
except TApplicationException as e:
    out["unknown_service"] = "TApplicationException(%d): %s" % (e.type, e.message)
# Plain (unprefixed) calls on the same connection still work.
out["plain_add"] = Calculator.Client(protocol).add(1, 1)
transport.close()
print(json.dumps(out))
