# The survey's Cap'n Proto server, brought to pycapnp 2.x with the smallest change: since 2.0
# the RPC API is asyncio-only, so `TwoPartyServer(("localhost", 7000), ...)` raises; the
# listening socket comes from capnp.AsyncIoStream.create_server and each connection gets its
# own TwoPartyServer, all inside capnp.run(); server methods must be coroutines (a plain `def`
# fails every call with "Server function (add) is not a coroutine"). The schema is loaded from the project's file and
# the server binds to 127.0.0.1. Usage: python server.py [port]
import asyncio
import sys

import capnp
from schema import calculator_capnp


class Calculator(calculator_capnp.Calculator.Server):
    async def add(self, a, b, _context, **_kwargs):
        return a + b


async def new_connection(stream):
    await capnp.TwoPartyServer(stream, bootstrap=Calculator()).on_disconnect()


async def main(port):
    server = await capnp.AsyncIoStream.create_server(new_connection, "127.0.0.1", port)
    print("listening on 127.0.0.1:{0}".format(port), flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(capnp.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 7000)))
