# A Spyne 2.14 service unlike the Calculator, for `rpclab call soap ... --schema URL|FILE`:
# strings, booleans, 64-bit integers and bytes, so the CLI's arguments are typed by the WSDL alone.
# Usage: python greeter_server.py [port]
import sys
from wsgiref.simple_server import WSGIRequestHandler, make_server

from spyne import Application, Boolean, ByteArray, Integer32, Long, ServiceBase, Unicode, rpc
from spyne.protocol.soap import Soap11
from spyne.server.wsgi import WsgiApplication


class Greeter(ServiceBase):
    @rpc(Unicode, Integer32, _returns=Unicode)
    def greet(ctx, name, times):
        return ", ".join([f"hello {name}"] * times)

    @rpc(Boolean, _returns=Boolean)
    def negate(ctx, flag):
        return not flag

    @rpc(Long, _returns=Long)
    def twice(ctx, n):
        return 2 * n

    @rpc(ByteArray, _returns=Integer32)
    def length(ctx, data):
        return len(b"".join(data or []))


class QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


port = int(sys.argv[1]) if len(sys.argv) > 1 else 8000
app = Application([Greeter], "greet.soap", in_protocol=Soap11(validator="lxml"), out_protocol=Soap11())
make_server("127.0.0.1", port, WsgiApplication(app), handler_class=QuietHandler).serve_forever()
