# thriftpy2 client for the whole Calculator contract. Prints one JSON line:
# {"add": 7, "divide_by_zero": "DivideByZero: division by zero", "echo_ok": true}
# Usage: full_client.py [port] [--protocol compact] [--transport framed]
import json

from thriftpy2.rpc import make_client

from options import calculator_thrift, parse

port, proto, trans = parse()
client = make_client(
    calculator_thrift.Calculator, "127.0.0.1", port, proto_factory=proto, trans_factory=trans,
    timeout=20000,
)
result = {"add": client.add(2, 5)}
try:
    client.divide(1, 0)
    result["divide_by_zero"] = None
except calculator_thrift.DivideByZero as e:
    result["divide_by_zero"] = "%s: %s" % (type(e).__name__, e.message)
data = bytes((i * 7 + 3) % 256 for i in range(1024 * 1024))
result["echo_ok"] = client.echo(data) == data
client.close()
print(json.dumps(result))
