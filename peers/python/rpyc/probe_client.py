# Tries to reach past the exposed methods of an RPyC server; prints one JSON object mapping each
# attempt to what happened ("AttributeError: ..." is the expected answer). Port as argv[1].
import json
import sys

import rpyc

conn = rpyc.connect("127.0.0.1", int(sys.argv[1]))
root = conn.root
attempts = {
    "root.__class__": lambda: root.__class__,
    "root._private": lambda: root._private,
    "root.__dict__": lambda: root.__dict__,
    "root.__getattribute__": lambda: root.__getattribute__("__class__"),
    "root.on_connect": lambda: root.on_connect,
    "root.exposed_add.__globals__": lambda: root.exposed_add.__globals__,
    "root.add.__self__": lambda: root.add.__self__,
    "root.add.__code__": lambda: root.add.__code__,
    "setattr(root, 'x', 1)": lambda: setattr(root, "x", 1),
    "root.multiply": lambda: root.multiply,
}
out = {}
for name, attempt in attempts.items():
    try:
        out[name] = f"GOT {attempt()!r}"
    except Exception as e:  # noqa: BLE001 - we report whatever comes back
        out[name] = f"{type(e).__name__}: {e.args[0] if e.args else ''}"
# Invalid arguments come back as TypeError carrying our stable code.
try:
    root.add(1.5, 2)
    out["add(1.5, 2)"] = "no error"
except TypeError as e:
    out["add(1.5, 2)"] = f"TypeError: {e.args[0]} [{getattr(e, 'rpclab_code', None)}]"
out["add(a=3, b=4)"] = root.add(a=3, b=4)
print(json.dumps(out))
conn.close()
