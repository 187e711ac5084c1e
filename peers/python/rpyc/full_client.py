# A fuller RPyC client for interop tests: add(2, 5), divide(1, 0), echo of 1 MiB, and (when the
# server offers it) apply(fn, 6, 7) with a Python callback. Prints one JSON line. Port as argv[1].
import json
import sys

import rpyc

port = int(sys.argv[1]) if len(sys.argv) > 1 else 18861

conn = rpyc.connect("127.0.0.1", port)
out = {"add": conn.root.add(2, 5)}
try:
    conn.root.divide(1, 0)
    out["divide_by_zero"] = None
except ZeroDivisionError as e:
    out["divide_by_zero"] = f"{type(e).__name__}: {e.args[0]}"
data = bytes(i % 251 for i in range(1024 * 1024))
out["echo_ok"] = conn.root.echo(data) == data
calls = []


def multiply(a, b):
    calls.append((a, b))
    return a * b


try:
    out["apply"] = conn.root.apply(multiply, 6, 7)
    out["callback_calls"] = len(calls)
except AttributeError as e:
    out["apply"] = f"AttributeError: {e.args[0]}"
else:
    # An exception raised by our callback travels to the server and back as itself.
    try:
        conn.root.apply(lambda a, b: a / b, 1, 0)
        out["callback_error"] = None
    except ZeroDivisionError as e:
        out["callback_error"] = f"{type(e).__name__}: {e.args[0]}"
print(json.dumps(out))
conn.close()
