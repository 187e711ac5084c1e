# A Reflector (reflector.capnp) served by pycapnp 2.x (the C++ reference RPC underneath): reflect
# returns the Counter it was given, hold returns it once release is called, later returns at once
# a promise of it (the pipelined result of a hold on this same Reflector) that resolves then. A client that
# pipelines calls on the result gets them sent back to its own Counter, and the C++ side
# answers the client's Disembargo (senderLoopback) with one of its own (receiverLoopback).
# Each connection gets its own Reflector, so holds of different clients do not mix.
# Usage: python reflector_server.py [port]
import asyncio
import os
import sys

import capnp

reflector_capnp = capnp.load(os.path.join(os.path.dirname(os.path.abspath(__file__)), "reflector.capnp"))


class Reflector(reflector_capnp.Reflector.Server):
    def __init__(self):
        self.waiting = []

    async def reflect(self, cap, _context, **_kwargs):
        return cap

    async def hold(self, cap, _context, **_kwargs):
        released = asyncio.get_running_loop().create_future()
        self.waiting.append(released)
        await released
        return cap

    async def later(self, cap, _context, **_kwargs):
        # A capability promise: C++ exports it as senderPromise and sends Resolve when it settles.
        me = reflector_capnp.Reflector._new_client(self)
        return me.hold(cap).cap

    async def release(self, _context, **_kwargs):
        waiting, self.waiting = self.waiting, []
        for released in waiting:
            released.set_result(None)
        return len(waiting)


async def new_connection(stream):
    await capnp.TwoPartyServer(stream, bootstrap=Reflector()).on_disconnect()


async def main(port):
    server = await capnp.AsyncIoStream.create_server(new_connection, "127.0.0.1", port)
    print("listening on 127.0.0.1:{0}".format(port), flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(capnp.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 7000)))
