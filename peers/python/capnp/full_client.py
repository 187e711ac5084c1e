# Calls the full Calculator schema with pycapnp 2.x and prints ONE JSON line:
# {"add": [7, 7], "divide": 2.0, "divide_by_zero": "<reason>", "echo_ok": true,
#  "pipelined_adder": 12, "awaited_adder": 12, "callback": 30, "callback_calls": 1,
#  "concurrent": [0, 2, ..., 18]}
# add runs twice on one bootstrap capability; the pipelined adder call is made on the promised
# result of adder() before it returns (one round trip); apply passes a local Function
# capability the server must call back across the wire.
# Usage: python full_client.py [port]
import asyncio
import json
import os
import sys

import capnp
from schema import calculator_capnp


class Multiply(calculator_capnp.Function.Server):
    def __init__(self):
        self.calls = 0

    async def call(self, a, b, _context, **_kwargs):
        self.calls += 1
        return a * b


async def reason(awaitable):
    try:
        return "no error: {0!r}".format(await awaitable)
    except capnp.KjException as err:
        return err.description


async def main(port):
    client = capnp.TwoPartyClient(await capnp.AsyncIoStream.create_connection("127.0.0.1", port))
    calc = client.bootstrap().cast_as(calculator_capnp.Calculator)
    out = {}
    out["add"] = [(await calc.add(2, 5)).result, (await calc.add(2, 5)).result]
    out["divide"] = (await calc.divide(6.0, 3.0)).result
    out["divide_by_zero"] = await reason(calc.divide(1.0, 0.0))
    data = os.urandom(1024 * 1024)
    out["echo_ok"] = (await calc.echo(data)).data == data
    # Pipelined: add() is sent on adder()'s promised result before adder() has returned.
    out["pipelined_adder"] = (await calc.adder(10).adder.add(2)).result
    adder = (await calc.adder(10)).adder
    out["awaited_adder"] = (await adder.add(2)).result
    fn = Multiply()
    out["callback"] = (await calc.apply(fn, 5, 6)).result
    out["callback_calls"] = fn.calls
    replies = await asyncio.gather(*[calc.add(i, i) for i in range(10)])
    out["concurrent"] = [r.result for r in replies]
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    asyncio.run(capnp.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 7000)))
