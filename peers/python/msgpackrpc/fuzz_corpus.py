# Prints, as a JSON list of hex strings, msgpack-rpc messages as msgpack-python 0.5.6 packs them
# with msgpack-rpc-python 0.4.1's settings (Packer(encoding='utf-8'): str and bytes both as raw
# str, no bin type): seeds for scripts/fuzz/msgpackrpc.ts.
import json

import msgpack

packer = msgpack.Packer(encoding="utf-8")
messages = [
    [0, 1, "add", [2, 5]],
    [0, 2, "divide", [1.0, 0.0]],
    [0, 3, "echo", [b"\x00\xff\xfe bytes"]],
    [0, 4, "echo", [bytes(range(256)) * 3]],
    [0, 5, "add", ["x", 2]],
    [0, 2 ** 30, "add", [2 ** 31 - 1, -(2 ** 31)]],
    [2, "note", ["hello", 1.5, None, True, {"k": [1, 2]}]],
    [1, 6, None, 7],
    [1, 7, "division by zero", None],
]
print(json.dumps([packer.pack(m).hex() for m in messages]))
