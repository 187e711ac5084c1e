# Probes a server speaking the survey's message contract with msgpack forms other encoders
# choose (map16/map32, str8/str16 keys, 64-bit and narrow ints, float32), ids of other
# types, input Python's own msgpack would refuse, and DEALER framings. Prints ONE JSON line,
# each probe's result (or "ERR:<code>" for an error reply). Usage: encodings_client.py [port]
import json
import struct
import sys

import msgpack
import zmq

port = int(sys.argv[1]) if len(sys.argv) > 1 else 5555
endpoint = "tcp://127.0.0.1:{0}".format(port)
ctx = zmq.Context()


def exchange(raw):
    sock = ctx.socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVTIMEO, 10000)
    sock.connect(endpoint)
    try:
        sock.send(raw)
        return msgpack.loads(sock.recv(), raw=False)
    finally:
        sock.close()


def outcome(reply):
    err = reply.get("error")
    if err is not None:
        return "ERR:{0}".format(err.get("code") if isinstance(err, dict) else err)
    return reply["result"]


def key(k):
    return msgpack.packb(k)


ADD = key("method") + key("add") + key("params") + msgpack.packb([2, 5])
out = {}
out["map16"] = outcome(exchange(b"\xde\x00\x02" + ADD))
out["map32"] = outcome(exchange(b"\xdf\x00\x00\x00\x02" + ADD))
out["str8_keys"] = outcome(exchange(b"\x82\xd9\x06method\xd9\x03add\xd9\x06params\x92\x02\x05"))
out["str16_key"] = outcome(exchange(b"\x82\xda\x00\x06method\xa3add\xa6params\x92\x02\x05"))
wide = b"\xdd\x00\x00\x00\x02\xcf" + struct.pack(">Q", 2) + b"\xd3" + struct.pack(">q", -5)
out["array32_int64"] = outcome(exchange(b"\x82" + key("method") + key("add") + key("params") + wide))
narrow = b"\x92\xd0\xfe\xd2" + struct.pack(">i", 5)
out["int8_int32"] = outcome(exchange(b"\x82" + key("method") + key("add") + key("params") + narrow))
f32 = b"\x92\xca" + struct.pack(">f", 1.5) + b"\xca" + struct.pack(">f", 0.5)
out["float32_divide"] = outcome(exchange(b"\x82" + key("method") + key("divide") + key("params") + f32))
out["extra_keys"] = outcome(exchange(msgpack.packb({"method": "add", "params": [2, 5], "jsonrpc": "2.0"})))

ids = {
    "timestamp": msgpack.Timestamp(1, 123456789),
    "ext": msgpack.ExtType(5, b"xy"),
    "uint64_max": 2**64 - 1,
    "int64_min": -(2**63),
    "str": "call-1",
}
for name, value in ids.items():
    reply = exchange(msgpack.packb({"method": "add", "params": [2, 5], "id": value}))
    out["id_" + name] = reply.get("id") == value and type(reply.get("id")) is type(value)

out["int_key"] = outcome(exchange(msgpack.packb({"method": "add", "params": [2, 5], 7: "x"})))
out["not_utf8"] = outcome(exchange(msgpack.packb({"method": "echo", "params": [b"\xff"]}, use_bin_type=False)))
out["trailing_byte"] = outcome(exchange(msgpack.packb({"method": "add", "params": [2, 5]}) + b"\x00"))

dealer = ctx.socket(zmq.DEALER)
dealer.setsockopt(zmq.LINGER, 0)
dealer.setsockopt(zmq.RCVTIMEO, 10000)
dealer.setsockopt(zmq.ROUTING_ID, b"my-own-id")
dealer.connect(endpoint)
dealer.send(msgpack.packb({"method": "add", "params": [2, 5], "id": 1}))
frames = dealer.recv_multipart()
out["dealer_no_delimiter"] = [len(frames), msgpack.loads(frames[-1], raw=False)]
dealer.send_multipart([b"", msgpack.packb({"method": "add", "params": [3, 4]})])
frames = dealer.recv_multipart()
out["dealer_delimiter"] = [len(frames), msgpack.loads(frames[-1], raw=False)]
dealer.close()
print(json.dumps(out))
