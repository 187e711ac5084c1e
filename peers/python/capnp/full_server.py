# The full Calculator schema served by pycapnp 2.x (the C++ reference RPC underneath): add,
# divide (b == 0 raises an exception whose reason starts with DIVIDE_BY_ZERO, the shape the
# schema documents), echo of Data, adder (returns a capability: a client may pipeline
# `adder(base).adder.add(x)` into one round trip), apply (calls the caller's Function
# capability back). pycapnp sends any exception a method raises as a remote exception whose
# reason is "remote exception: message = <traceback>" ending in "KjException: DIVIDE_BY_ZERO:
# division by zero", so a client finds the code on the traceback's last line.
# Usage: python full_server.py [port]
import asyncio
import sys

import capnp
from schema import calculator_capnp

class Adder(calculator_capnp.Adder.Server):
    def __init__(self, base):
        self.base = base

    async def add(self, x, _context, **_kwargs):
        return self.base + x


class Calculator(calculator_capnp.Calculator.Server):
    async def add(self, a, b, _context, **_kwargs):
        return a + b

    async def divide(self, a, b, _context, **_kwargs):
        if b == 0:
            raise capnp.KjException(type=capnp.KjException.Type.FAILED, message="DIVIDE_BY_ZERO: division by zero")
        return a / b

    async def echo(self, data, _context, **_kwargs):
        return data

    async def adder(self, base, _context, **_kwargs):
        return Adder(base)

    async def apply(self, fn, a, b, _context, **_kwargs):
        reply = await fn.call(a, b)
        return reply.result


async def new_connection(stream):
    await capnp.TwoPartyServer(stream, bootstrap=Calculator()).on_disconnect()


async def main(port):
    server = await capnp.AsyncIoStream.create_server(new_connection, "127.0.0.1", port)
    print("listening on 127.0.0.1:{0}".format(port), flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(capnp.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 7000)))
