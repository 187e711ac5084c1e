# thriftpy2 server for the whole Calculator contract: add, divide (raising the IDL's
# DivideByZero exception) and echo. Usage: full_server.py [port] [--protocol compact] [--transport framed]
from thriftpy2.rpc import make_server

from options import calculator_thrift, parse

I32_MIN, I32_MAX = -(2 ** 31), 2 ** 31 - 1


class CalculatorHandler:
    def add(self, a, b):
        total = a + b
        if not I32_MIN <= total <= I32_MAX:
            raise calculator_thrift.InvalidArgument(message="add: result out of the 32-bit range: %d" % total)
        return total

    def divide(self, a, b):
        if b == 0:
            raise calculator_thrift.DivideByZero(message="division by zero")
        return a / b

    def echo(self, data):
        return data


port, proto, trans = parse()
server = make_server(
    calculator_thrift.Calculator, CalculatorHandler(), "127.0.0.1", port,
    proto_factory=proto, trans_factory=trans,
)
server.serve()
