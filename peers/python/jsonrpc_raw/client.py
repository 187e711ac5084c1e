# A JSON-RPC 2.0 spec check list run against a server with no JSON-RPC library: raw JSON over
# Python's http.client. Prints ONE JSON line mapping each check to "ok" or "FAIL: <why>".
# Conventions checked beyond the spec are ours: bytes as base64, divide by zero as code 1001.
# Usage: python client.py [port]   (default 4000)
import base64
import http.client
import json
import sys

PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 4000
results = {}
replies_seen = []


def post(body, headers=None, version=11):
    """POSTs raw bytes on a fresh connection; returns (status, parsed JSON or None, raw bytes, headers)."""
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
    if version == 10:
        conn._http_vsn, conn._http_vsn_str = 10, "HTTP/1.0"
    if isinstance(body, str):
        body = body.encode("utf-8")
    conn.request("POST", "/", body, {"Content-Type": "application/json"} if headers is None else headers)
    resp = conn.getresponse()
    raw = resp.read()
    conn.close()
    parsed = json.loads(raw) if raw else None
    for r in parsed if isinstance(parsed, list) else [parsed] if parsed else []:
        replies_seen.append(r)
    return resp.status, parsed, raw, resp


def call(method, params=None, id_=1, **extra):
    req = {"jsonrpc": "2.0", "method": method, "id": id_}
    if params is not None:
        req["params"] = params
    req.update(extra)
    return req


def check(name, fn):
    try:
        fn()
        results[name] = "ok"
    except AssertionError as e:
        results[name] = "FAIL: %s" % e
    except Exception as e:  # a crash of the check itself is a failure too
        results[name] = "FAIL: %s: %s" % (type(e).__name__, e)


def expect(cond, why):
    if not cond:
        raise AssertionError(why)


def result_of(body, expected, id_=1):
    status, reply, raw, _ = post(json.dumps(body) if not isinstance(body, (str, bytes)) else body)
    expect(status == 200, "HTTP %d" % status)
    expect(reply == {"jsonrpc": "2.0", "id": id_, "result": expected}, "got %r" % raw[:200])


def error_code(body, code, id_=None, or_null=False):
    status, reply, raw, _ = post(json.dumps(body) if not isinstance(body, (str, bytes)) else body)
    expect(isinstance(reply, dict) and "error" in reply, "no error object: %r" % raw[:200])
    expect(reply["error"]["code"] == code, "code %r, wanted %d: %r" % (reply["error"].get("code"), code, raw[:200]))
    # Spec §5: the id of an Invalid Request is null when it could not be detected.
    ok_ids = (id_, None) if or_null else (id_,)
    expect(reply.get("id") in ok_ids, "id %r, wanted %r" % (reply.get("id"), id_))


check("positional params", lambda: result_of(call("add", [2, 5]), 7))
check("named params", lambda: result_of(call("add", {"b": 5, "a": 2}, id_="n"), 7, "n"))
check("id string", lambda: result_of(call("add", [1, 2], id_="abc-\u00e9"), 3, "abc-\u00e9"))
check("id null", lambda: result_of(call("add", [1, 2], id_=None), 3, None))
check("id fractional", lambda: result_of(call("add", [1, 2], id_=1.5), 3, 1.5))
check("id negative", lambda: result_of(call("add", [1, 2], id_=-7), 3, -7))
check("id 2^53-1", lambda: result_of(call("add", [1, 2], id_=2 ** 53 - 1), 3, 2 ** 53 - 1))


def huge_id():
    # Python ints have no limit: the id must come back as the very same int.
    for id_ in (12345678901234567890, -(2 ** 70) - 1):
        status, reply, raw, _ = post(json.dumps(call("add", [1, 2], id_=id_)))
        expect(reply.get("result") == 3 and reply["id"] == id_, "got %r" % raw)


check("id beyond 2^53 echoed exactly", huge_id)


def notification():
    status, reply, raw, _ = post(json.dumps({"jsonrpc": "2.0", "method": "add", "params": [1, 2]}))
    expect(status in (200, 204) and raw == b"", "HTTP %d, body %r" % (status, raw[:100]))


check("notification gets no response", notification)
check("failing notification gets no response either", lambda: expect(
    post(json.dumps({"jsonrpc": "2.0", "method": "nope"}))[2] == b"", "a body was sent"))
check("jsonrpc member missing", lambda: error_code({"method": "add", "params": [1, 2], "id": 1}, -32600, 1, True))
check("jsonrpc 1.0", lambda: error_code({"jsonrpc": "1.0", "method": "add", "params": [1, 2], "id": 1}, -32600, 1, True))
check("method not a string", lambda: error_code({"jsonrpc": "2.0", "method": 1, "params": "bar"}, -32600))
check("params absent (add takes 2: -32602, not -32600)", lambda: error_code(call("add"), -32602, 1))
check("params a number", lambda: error_code(call("add", 5), -32600, 1))
check("params a string", lambda: error_code(call("add", "x"), -32600, 1))
check("params null", lambda: error_code(dict(call("add"), params=None), -32600, 1))
check("unknown method", lambda: error_code(call("multiply", [2, 3], id_=4), -32601, 4))
check("wrong param type", lambda: error_code(call("add", ["x", 2], id_=5), -32602, 5))
check("huge number 1e400", lambda: error_code('{"jsonrpc":"2.0","id":6,"method":"add","params":[1e400,2]}', -32602, 6))
check("big integer 2^70", lambda: error_code(call("add", [2 ** 70, 2], id_=7), -32602, 7))
check("parse error", lambda: error_code('{"jsonrpc": "2.0", "method": "add", "params": [1, 2', -32700))
check("empty batch", lambda: error_code("[]", -32600))


def batch_of_non_objects():
    _, reply, raw, _ = post("[1,2,3]")
    expect(isinstance(reply, list) and len(reply) == 3, "got %r" % raw[:300])
    for r in reply:
        expect(r["error"]["code"] == -32600 and r["id"] is None, "got %r" % r)


check("batch [1,2,3]: three -32600", batch_of_non_objects)


def mixed_batch():
    batch = [
        call("add", [1, 2], id_=1),
        {"jsonrpc": "2.0", "method": "add", "params": [7, 7]},
        {"foo": "boo"},
        call("divide", [1, 0], id_="x"),
        call("multiply", [1, 2], id_=3),
        call("add", [3, 4], id_=4),
    ]
    _, reply, raw, _ = post(json.dumps(batch))
    expect(isinstance(reply, list) and len(reply) == 5, "got %r" % raw[:400])
    by_id = {json.dumps(r["id"]): r for r in reply}
    expect(sorted(by_id) == sorted(["1", "null", '"x"', "3", "4"]), "ids %r" % sorted(by_id))
    expect(by_id["1"]["result"] == 3 and by_id["4"]["result"] == 7, "results %r" % raw[:400])
    expect(by_id['"x"']["error"]["code"] == 1001, "divide %r" % by_id['"x"'])
    expect(by_id["3"]["error"]["code"] == -32601, "multiply %r" % by_id["3"])
    expect(by_id["null"]["error"]["code"] == -32600, "invalid %r" % by_id["null"])


check("mixed batch: replies matched by id, notification left out", mixed_batch)
check("divide by zero: code 1001, data.code", lambda: expect(
    post(json.dumps(call("divide", [1, 0])))[1]["error"] == {"code": 1001, "message": "division by zero", "data": {"code": "DIVIDE_BY_ZERO"}},
    "wrong error object"))
# Our convention (not the spec's: JSON has no Infinity/NaN): non-finite doubles as strings.
check("divide overflow: Infinity as a string", lambda: result_of(call("divide", [1e308, 1e-10]), "Infinity"))
check("bare NaN token accepted (Python json)", lambda: result_of('{"jsonrpc":"2.0","id":1,"method":"divide","params":[NaN,1]}', "NaN"))
data = bytes((i * 31 + 7) & 0xFF for i in range(1024 * 1024))
check("echo 1 MiB as base64", lambda: result_of(call("echo", [base64.b64encode(data).decode()]), base64.b64encode(data).decode()))
check("duplicate keys: last wins", lambda: result_of('{"jsonrpc":"2.0","id":1,"method":"add","params":[1,2],"params":[3,4]}', 7))
check("UTF-8 BOM ignored", lambda: result_of(b"\xef\xbb\xbf" + json.dumps(call("add", [2, 5])).encode(), 7))
check("non-UTF-8 bytes: parse error", lambda: error_code(b'{"jsonrpc":"2.0","id":"\xff","method":"add","params":[1,2]}', -32700))


def deep_nesting():
    error_code("[" * 100000, -32700)
    result_of(call("add", [2, 5]), 7)


check("100k nested [ does not crash the server", deep_nesting)
for ctype in ("application/json", "application/json-rpc", "text/plain", None):
    check("Content-Type %s" % ctype, lambda ctype=ctype: expect(
        post(json.dumps(call("add", [2, 5])), {} if ctype is None else {"Content-Type": ctype})[1]["result"] == 7, "no result"))


def http10():
    status, reply, _, resp = post(json.dumps(call("add", [2, 5])), version=10)
    expect(reply == {"jsonrpc": "2.0", "id": 1, "result": 7}, "got %r" % reply)
    expect((resp.getheader("Connection") or "").lower() == "close", "Connection: %r" % resp.getheader("Connection"))


check("HTTP/1.0 without keep-alive", http10)


def error_objects_well_formed():
    # Every reply seen so far: result xor error; error has code (int) and message (str), maybe data.
    for r in replies_seen:
        expect(r.get("jsonrpc") == "2.0", "jsonrpc %r" % r)
        expect(("result" in r) != ("error" in r), "result and error together or neither: %r" % r)
        if "error" in r:
            e = r["error"]
            expect(set(e) <= {"code", "message", "data"} and {"code", "message"} <= set(e), "keys %r" % sorted(e))
            expect(type(e["code"]) is int and isinstance(e["message"], str), "types %r" % e)


check("every reply: result xor error; error objects exactly code/message(/data)", error_objects_well_formed)
print(json.dumps(results, sort_keys=True))
