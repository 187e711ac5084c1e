# Passes its own Counter to a Reflector (reflector.capnp) with pycapnp 2.x and prints ONE JSON
# line: {"method": ..., "seen": [...], "replies": [...], "held": ..., "flushes": [...]}. It pipelines next(0..N-1) on
# the promised result before the Reflector has returned (those calls go out to the Reflector and
# come back to the Counter), then, once the result is in, next(N..M-1) on the same promised
# capability: now a local object, so the C++ side embargoes them behind a Disembargo. "seen" is
# the order the Counter received the seqs in; E-order wants 0..M-1 exactly. Two release()
# round trips (nothing held) come before the scenario and two after it, once every reference
# it made is dropped, so a server can compare its tables at the second and the last.
# Usage: python reflector_client.py port [N] [M] [reflect|hold|later]
import asyncio
import gc
import json
import sys

import capnp
from reflector_server import reflector_capnp


class Counter(reflector_capnp.Counter.Server):
    def __init__(self):
        self.seen = []

    async def next(self, seq, _context, **_kwargs):
        self.seen.append(seq)
        return seq


async def main(port, before, total, method):
    client = capnp.TwoPartyClient(await capnp.AsyncIoStream.create_connection("127.0.0.1", port))
    reflector = client.bootstrap().cast_as(reflector_capnp.Reflector)
    counter = Counter()

    async def flush():
        return (await reflector.release()).held

    flushes = [await flush(), await flush()]
    promise = getattr(reflector, method)(counter)
    promised = promise.cap
    # Sent on the promised answer, before the Reflector has returned.
    early = [promised.next(i) for i in range(before)]
    held = None
    if method == "hold":
        held = (await reflector.release()).held
    await promise
    if method == "later":
        # The result is a promise of our Counter; release() makes the Reflector resolve it.
        held = (await reflector.release()).held
    # The promise has resolved to our own Counter: these must not overtake the reflected ones.
    late = [promised.next(i) for i in range(before, total)]
    replies = [r.seq for r in await asyncio.gather(*early, *late)]
    # Dropped, so the Finish of the Reflector's call and the Release of its result go out.
    del promise, promised, early, late
    gc.collect()
    flushes += [await flush(), await flush()]
    out = {"method": method, "seen": counter.seen, "replies": replies, "held": held, "flushes": flushes}
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    args = sys.argv[1:]
    port = int(args[0]) if args else 7000
    before = int(args[1]) if len(args) > 1 else 10
    total = int(args[2]) if len(args) > 2 else 20
    method = args[3] if len(args) > 3 else "reflect"
    asyncio.run(capnp.run(main(port, before, total, method)))
