# Calculator server on the official Apache Thrift Python library (thrift 0.25) and code
# generated from our calculator.thrift: add (InvalidArgument on 32-bit overflow), divide
# (DivideByZero), echo. Usage: server.py [port] [--protocol ...] [--transport ...] [--server simple|threaded]
from options import parse

from calculator import Calculator
from calculator.ttypes import DivideByZero, InvalidArgument
from thrift.server import TServer
from thrift.transport import TSocket

I32_MIN, I32_MAX = -(2 ** 31), 2 ** 31 - 1


class CalculatorHandler:
    def add(self, a, b):
        total = a + b
        if not I32_MIN <= total <= I32_MAX:
            raise InvalidArgument(message="add: result out of the 32-bit range: %d" % total)
        return total

    def divide(self, a, b):
        if b == 0:
            raise DivideByZero(message="division by zero")
        return a / b

    def echo(self, data):
        return data


def extra(parser):
    parser.add_argument("--server", choices=["simple", "threaded"], default="threaded")


args = parse(extra)
processor = Calculator.Processor(CalculatorHandler())
socket = TSocket.TServerSocket(host="127.0.0.1", port=args.port)
if args.server == "simple":
    server = TServer.TSimpleServer(processor, socket, args.trans, args.proto)
else:
    server = TServer.TThreadedServer(processor, socket, args.trans, args.proto, daemon=True)
server.serve()
