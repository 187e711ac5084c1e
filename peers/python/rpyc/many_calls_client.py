# Makes many `conn.root.add(i, 1)` calls on one connection, the plain rpyc way (GETATTR, CALL,
# then DEL when the method's netref is collected), so a test can watch the server's object table.
# Protocol on stdin/stdout: prints "ready" after one call, waits for a line, makes N calls,
# prints "done <ok count>", waits for a line, closes. Usage: many_calls_client.py PORT N
import gc
import sys

import rpyc

port = int(sys.argv[1])
n = int(sys.argv[2]) if len(sys.argv) > 2 else 10000

conn = rpyc.connect("127.0.0.1", port)
assert conn.root.add(0, 1) == 1
gc.collect()
conn.ping()  # requests are served in order: every DEL sent before this has been handled
print("ready", flush=True)
sys.stdin.readline()
ok = 0
for i in range(n):
    if conn.root.add(i, 1) == i + 1:
        ok += 1
gc.collect()
conn.ping()
print(f"done {ok}", flush=True)
sys.stdin.readline()
conn.close()
