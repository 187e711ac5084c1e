# The full Calculator contract served by Spyne 2.14, written the way its users write services:
# add over xs:int, divide over xs:double raising a Spyne Fault (Client.DivideByZero) for a zero
# divisor, echo over xs:base64Binary. The SOAP version is the second argument, 11 (default) or
# 12; Spyne answers ?wsdl with the WSDL of the binding it speaks.
# Usage: python full_server.py [port] [11|12]
import sys
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from spyne import Application, ByteArray, Double, Fault, Integer32, ServiceBase, rpc
from spyne.protocol.soap import Soap11, Soap12
from spyne.server.wsgi import WsgiApplication


class Calculator(ServiceBase):
    @rpc(Integer32, Integer32, _returns=Integer32)
    def add(ctx, a, b):
        return a + b

    @rpc(Double, Double, _returns=Double)
    def divide(ctx, a, b):
        if b == 0:
            raise Fault(faultcode="Client.DivideByZero", faultstring="division by zero")
        return a / b

    @rpc(ByteArray, _returns=ByteArray)
    def echo(ctx, data):
        # Spyne hands a ByteArray over as a list of byte strings.
        return [b"".join(data or [])]


class QuietHandler(WSGIRequestHandler):
    # One log line per request would cost more than the call itself in the benchmarks.
    def log_message(self, *args):
        pass


class Server(WSGIServer):
    # wsgiref's listen backlog is 5: with 64 clients connecting at once (the bench's add-64) the
    # kernel drops the extra SYNs and they wait seconds for a retransmit. One thread still
    # answers one request at a time, as the survey's service does.
    request_queue_size = 128


port = int(sys.argv[1]) if len(sys.argv) > 1 else 8000
version = sys.argv[2] if len(sys.argv) > 2 else "11"
protocol = Soap12 if version == "12" else Soap11
app = Application(
    [Calculator],
    "calc.soap",
    in_protocol=protocol(validator="lxml"),
    out_protocol=protocol(),
)
server = make_server("127.0.0.1", port, WsgiApplication(app), server_class=Server, handler_class=QuietHandler)
server.serve_forever()
