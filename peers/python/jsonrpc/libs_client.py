# Two more JSON-RPC 2.0 client libraries against our server: tinyrpc 1.1.7 (JSONRPCProtocol
# over HttpPostClientTransport) and jsonrpcclient 4.0.3 (which only builds and parses
# messages; requests carries them). Prints one JSON line of results, keyed by library.
# Usage: python libs_client.py [port]   (default 4000)
import base64
import json
import sys

import jsonrpcclient
import requests
from tinyrpc import RPCClient
from tinyrpc.protocols.jsonrpc import JSONRPCError, JSONRPCProtocol
from tinyrpc.transports.http import HttpPostClientTransport

port = int(sys.argv[1]) if len(sys.argv) > 1 else 4000
url = f"http://127.0.0.1:{port}/"
TIMEOUT = 10
# Every byte value, then a longer pseudo-random run, so base64 padding and all 256 bytes travel.
DATA = bytes(range(256)) + bytes((i * 31 + 7) & 0xFF for i in range(65536))
B64 = base64.b64encode(DATA).decode("ascii")


def error_of(exc):
    return {"code": exc._jsonrpc_error_code, "message": exc.message, "data": getattr(exc, "data", None)}


def run_tinyrpc():
    out = {}
    posts = []

    def post(*args, **kwargs):
        # Keep each HTTP reply so the notification's status and body can be reported.
        r = requests.post(*args, **kwargs)
        posts.append(r)
        return r

    client = RPCClient(JSONRPCProtocol(), HttpPostClientTransport(url, post_method=post, timeout=TIMEOUT))
    calc = client.get_proxy()
    out["add"] = calc.add(2, 5)
    try:
        calc.divide(1, 0)
        out["divide_by_zero"] = "no error"
    except JSONRPCError as e:
        out["divide_by_zero"] = error_of(e)
    out["echo_ok"] = base64.b64decode(calc.echo(B64)) == DATA
    try:
        calc.multiply(2, 3)
        out["unknown"] = "no error"
    except JSONRPCError as e:
        out["unknown"] = error_of(e)
    batch = client.batch_call(
        [("add", [1, 2], {}), ("divide", [1, 0], {}), ("add", [3, 4], {}), ("add", [5, 5], {}, True)]
    )
    # tinyrpc hands replies back in the server's order; its ids count up in request order.
    out["batch"] = [
        [getattr(r, "result", None), getattr(r, "_jsonrpc_error_code", None)]
        for r in sorted(batch, key=lambda r: r.unique_id)
    ]
    calc_one_way = client.get_proxy(one_way=True)
    calc_one_way.add(1, 1)
    out["notification"] = {"status": posts[-1].status_code, "body": posts[-1].text}
    out["after_notification"] = calc.add(20, 22)
    return out


def call(req):
    r = requests.post(url, json=req, timeout=TIMEOUT)
    return r, (jsonrpcclient.parse(r.json()) if r.content else None)


def run_jsonrpcclient():
    out = {}
    _, res = call(jsonrpcclient.request("add", params=(2, 5)))
    out["add"] = res.result if isinstance(res, jsonrpcclient.Ok) else repr(res)
    _, res = call(jsonrpcclient.request("divide", params=(1, 0)))
    out["divide_by_zero"] = (
        {"code": res.code, "message": res.message, "data": res.data}
        if isinstance(res, jsonrpcclient.Error)
        else repr(res)
    )
    _, res = call(jsonrpcclient.request("echo", params=(B64,)))
    out["echo_ok"] = isinstance(res, jsonrpcclient.Ok) and base64.b64decode(res.result) == DATA
    _, res = call(jsonrpcclient.request("multiply", params=(2, 3)))
    out["unknown"] = res.code if isinstance(res, jsonrpcclient.Error) else repr(res)
    reqs = [
        jsonrpcclient.request("add", params=(1, 2)),
        jsonrpcclient.request("divide", params=(1, 0)),
        jsonrpcclient.notification("add", params=(9, 9)),
        jsonrpcclient.request("add", params={"a": 3, "b": 4}),
    ]
    _, res = call(reqs)
    ids = {r["id"]: i for i, r in enumerate(reqs) if "id" in r}
    # Replies may come in any order; report them in request order, by id.
    out["batch"] = [
        [ids[r.id], r.result if isinstance(r, jsonrpcclient.Ok) else r.code]
        for r in sorted(res, key=lambda r: ids[r.id])
    ]
    r, res = call(jsonrpcclient.notification("add", params=(1, 1)))
    out["notification"] = {"status": r.status_code, "body": r.text}
    return out


print(json.dumps({"tinyrpc": run_tinyrpc(), "jsonrpcclient": run_jsonrpcclient()}))
