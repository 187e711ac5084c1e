# The survey's thriftpy2 server, changed minimally: binds 127.0.0.1 (not 0.0.0.0) and takes
# the port as an optional first argument (default 9090, the survey's port).
import sys

import thriftpy2
from thriftpy2.rpc import make_server

calculator_thrift = thriftpy2.load("calculator.thrift", module_name="calculator_thrift")

class CalculatorHandler:
    def add(self, a, b):
        return a + b

port = int(sys.argv[1]) if len(sys.argv) > 1 else 9090
server = make_server(calculator_thrift.Calculator, CalculatorHandler(), "127.0.0.1", port)
server.serve()
