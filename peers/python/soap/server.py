# The survey's Spyne service (its examples/soap/service.py) as written, except that it binds
# 127.0.0.1 (not 0.0.0.0) and takes the port as an optional first argument (default 8000, the
# survey's port). Named server.py like every row's survey server, so the interop CLI finds it.
import sys

from spyne import Application, Integer, ServiceBase, rpc
from spyne.protocol.soap import Soap11
from spyne.server.wsgi import WsgiApplication
from wsgiref.simple_server import make_server


class Calculator(ServiceBase):
    @rpc(Integer, Integer, _returns=Integer)
    def add(ctx, a, b):
        return a + b


port = int(sys.argv[1]) if len(sys.argv) > 1 else 8000
app = Application([Calculator], "calc.soap", in_protocol=Soap11(), out_protocol=Soap11())
wsgi_app = WsgiApplication(app)
server = make_server("127.0.0.1", port, wsgi_app)
server.serve_forever()
