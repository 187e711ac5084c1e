# Python usages of an RPyC server beyond the survey's client: connect configs, async_, ping,
# context manager, dir/repr/str/hasattr/__doc__, isinstance, BgServingThread, keyword args,
# big ints, bytes-like arguments, a 10 MiB echo, threads, and close() with a call pending.
# Prints ONE JSON object mapping each usage to what happened, so the same script can run
# against rpyc's own server (full_server.py) and ours and the answers be compared.
# Port as argv[1]. Works with rpyc 5 and 6.
import json
import sys
import threading
import time

import rpyc

port = int(sys.argv[1])
out = {}


def attempt(name, fn):
    try:
        out[name] = fn()
    except Exception as e:  # noqa: BLE001 - we report whatever comes back
        out[name] = f"{type(e).__name__}: {e.args[0] if e.args else ''}"


for cfg_name, cfg in {
    "allow_public_attrs_false": {"allow_public_attrs": False},
    "allow_public_attrs_true": {"allow_public_attrs": True},
    "sync_request_timeout_2": {"sync_request_timeout": 2},
}.items():
    c = rpyc.connect("127.0.0.1", port, config=cfg)
    attempt(f"config {cfg_name}", lambda: c.root.add(2, 5))
    c.close()

conn = rpyc.connect("127.0.0.1", port)
root = conn.root


def async_add():
    res = rpyc.async_(root.add)(2, 5)
    res.wait()
    return [res.ready, res.error, res.value]


attempt("async_ wait value", async_add)
attempt("async_ error", lambda: type(rpyc.async_(root.divide)(1, 0).error).__name__)
attempt("get_service_name", lambda: isinstance(root.get_service_name(), str))
attempt("ping", lambda: conn.ping() is None)
attempt("dir has exposed_add", lambda: "exposed_add" in dir(root))
attempt("dir has get_service_name", lambda: {"get_service_name", "get_service_aliases"} <= set(dir(root)))
attempt("get_service_aliases", lambda: list(root.get_service_aliases()) == [root.get_service_name()])
attempt("divide gives a float", lambda: [type(root.divide(6, 2)).__name__, root.divide(6, 2)])
attempt("root == root, != 5", lambda: [root == conn.root, root != 5, root == 5])
attempt("repr is str", lambda: isinstance(repr(root), str))
attempt("str is str", lambda: isinstance(str(root), str))
attempt("hasattr add", lambda: hasattr(root, "add"))
attempt("hasattr nope", lambda: hasattr(root, "nope"))
attempt("add.__doc__ type", lambda: type(root.add.__doc__).__name__)
attempt("f-string of a method", lambda: f"{root.add}".startswith("<bound method"))
attempt("isinstance int", lambda: isinstance(root.add(2, 5), int))
attempt("isinstance BaseNetref", lambda: isinstance(root, rpyc.BaseNetref))
attempt("callable add", lambda: callable(root.add))
attempt("kwargs", lambda: root.add(a=3, b=4))
attempt("kwargs mixed", lambda: root.add(3, b=4))
attempt("kwargs unknown", lambda: root.add(3, c=4))
attempt("big int", lambda: root.add(2**100, 1))
attempt("echo bytes", lambda: root.echo(b"abc") == b"abc")
attempt("echo bytearray", lambda: bytes(root.echo(bytearray(b"abc"))) == b"abc")
attempt("echo memoryview", lambda: bytes(root.echo(memoryview(b"abc"))) == b"abc")
big = bytes(i * 7 % 251 for i in range(10 * 1024 * 1024))
attempt("echo 10 MiB", lambda: root.echo(big) == big)
attempt("divide by zero", lambda: root.divide(1, 0))
attempt("unknown method", lambda: root.nope(1))


def with_block():
    with rpyc.connect("127.0.0.1", port) as c:
        return c.root.add(1, 1)


attempt("with block", with_block)


def bg_serving():
    c = rpyc.connect("127.0.0.1", port)
    bg = rpyc.BgServingThread(c)
    try:
        return [c.root.add(i, 1) for i in range(20)] == list(range(1, 21))
    finally:
        bg.stop()
        c.close()


attempt("BgServingThread", bg_serving)


def threads():
    results = []
    lock = threading.Lock()

    def worker(n):
        c = rpyc.connect("127.0.0.1", port)
        total = sum(c.root.add(i, n) for i in range(100))
        c.close()
        with lock:
            results.append(total)

    ts = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    return sorted(results) == sorted(sum(range(100)) + 100 * n for n in range(8))


attempt("8 threads x 100 calls", threads)


def close_while_pending():
    c = rpyc.connect("127.0.0.1", port)
    started = threading.Event()
    outcome = {}

    def slow(a, b):
        started.set()
        time.sleep(1)
        return a + b

    def call():
        try:
            outcome["result"] = c.root.apply(slow, 1, 2)
        except Exception as e:  # noqa: BLE001
            outcome["result"] = type(e).__name__

    t = threading.Thread(target=call)
    t.start()
    started.wait(10)
    c.close()
    t.join(20)
    return [not t.is_alive(), "result" in outcome]


attempt("close while pending", close_while_pending)
print(json.dumps(out))
conn.close()
