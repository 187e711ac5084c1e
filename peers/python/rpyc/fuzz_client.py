# Traffic for the RPyC fuzz harness (scripts/fuzz/rpyc.ts): the usages of the other client
# scripts in one short run, so the harness can record what a real rpyc client sends: add,
# divide, an echo big enough to be zlib-compressed, a callback (apply), dir/getattr/repr, and
# async_. Port as argv[1]. Works with rpyc 5 and 6. Prints "ok" when every call answered.
import sys

import rpyc

port = int(sys.argv[1])
c = rpyc.connect("127.0.0.1", port)
root = c.root
assert root.add(2, 5) == 7
assert root.divide(7, 2) == 3.5
try:
    root.divide(1, 0)
except Exception:  # noqa: BLE001 - the failure's traffic is what we want
    pass
big = bytes(range(256)) * 64
assert root.echo(big) == big
assert root.apply(lambda a, b: a * b, 6, 7) == 42
dir(root)
repr(root)
getattr(root, "add")
str(root.add)
res = rpyc.async_(root.add)(20, 22)
assert res.value == 42
c.ping()
c.close()
print("ok")
