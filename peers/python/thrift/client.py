# The survey's thriftpy2 client (the survey lists client.py without showing it): make_client
# with thriftpy2's defaults (TBufferedTransport + TBinaryProtocol), printing add(2, 5).
# Port as optional first argument (default 9090).
import sys

import thriftpy2
from thriftpy2.rpc import make_client

calculator_thrift = thriftpy2.load("calculator.thrift", module_name="calculator_thrift")

port = int(sys.argv[1]) if len(sys.argv) > 1 else 9090
client = make_client(calculator_thrift.Calculator, "127.0.0.1", port)
print(client.add(2, 5))
client.close()
