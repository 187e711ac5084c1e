# The survey's Cap'n Proto client, brought to pycapnp 2.x with the smallest change: the
# connection is an AsyncIoStream opened inside capnp.run(), and `.wait()` became `await`.
# Usage: python client.py [port]
import asyncio
import sys

import capnp
from schema import calculator_capnp


async def main(port):
    client = capnp.TwoPartyClient(await capnp.AsyncIoStream.create_connection("127.0.0.1", port))
    calc = client.bootstrap().cast_as(calculator_capnp.Calculator)
    resp = await calc.add(2, 5)
    print("2 + 5 =", resp.result)


if __name__ == "__main__":
    asyncio.run(capnp.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 7000)))
