"""Brine test vectors produced by rpyc's own brine (rpyc==6.0.2), for the TypeScript codec tests.

  python brine_vectors.py            prints the vectors as JSON: [{"name", "hex", "value"}, ...]
  python brine_vectors.py --reload   reads hex lines on stdin, loads each with brine and dumps it
                                     again, printing one JSON line per input: {"hex", "value"}

"value" is a tagged description of the Python value, so the TypeScript side can rebuild it
exactly (ints as decimal text, floats as their 8 IEEE bytes, tuples as lists of items, ...).
"""
import json
import struct
import sys

from rpyc.core import brine


def tagged(v):
    if v is None:
        return {"t": "none"}
    if v is Ellipsis:
        return {"t": "ellipsis"}
    if v is NotImplemented:
        return {"t": "notimplemented"}
    if type(v) is bool:
        return {"t": "bool", "v": v}
    if type(v) is int:
        return {"t": "int", "v": str(v)}
    if type(v) is float:
        return {"t": "float", "hex": struct.pack("!d", v).hex()}
    if type(v) is complex:
        return {"t": "complex", "hex": struct.pack("!dd", v.real, v.imag).hex()}
    if type(v) is str:
        return {"t": "str", "v": v}
    if type(v) is bytes:
        return {"t": "bytes", "hex": v.hex()}
    if type(v) is tuple:
        return {"t": "tuple", "items": [tagged(x) for x in v]}
    if type(v) is frozenset:
        return {"t": "frozenset", "items": [tagged(x) for x in v]}  # iteration order = dump order
    if type(v) is slice:
        return {"t": "slice", "items": [tagged(v.start), tagged(v.stop), tagged(v.step)]}
    raise TypeError(type(v))


def cases():
    yield "none", None
    yield "true", True
    yield "false", False
    yield "ellipsis", Ellipsis
    yield "notimplemented", NotImplemented
    for n in [0, 1, -1, 7, -0x30, 0x9F, -0x31, 0xA0, 255, 256, -256, 2**31 - 1, -(2**31), 2**31,
              2**53 - 1, 2**53, -(2**53) - 1, 2**63 - 1, -(2**63), 2**64, 10**300, -(10**300)]:
        yield f"int {n if abs(n) < 10**20 else 'huge'}", n
    yield "int 1000 digits", 7 * 10**999
    # The rest of the size classes: the one-byte range's neighbours on both sides, 32/64-bit
    # edges, and INT_L1's last length (255 characters, sign included) against INT_L4's first.
    for n in [-(2**31) - 1, 2**32, 2**63, -(2**63) - 1, -(2**64), 2**1000, -(2**1000)]:
        yield f"int {n if abs(n) < 10**20 else 'huge ' + str(len(str(n))) + ' chars'}", n
    for n in [10**254, 10**255, -(10**253), -(10**254)]:
        yield f"int of {len(str(n))} chars", n
    for x in [0.0, -0.0, 1.5, 2.0, -3.25, 1e308, 5e-324, float("inf"), float("-inf"), float("nan")]:
        yield f"float {x!r}", x
    yield "complex", 13 + 18.2j
    yield "complex neg", complex(-0.0, -1.0)
    yield "bytes empty", b""
    for n in [1, 2, 3, 4, 5, 255, 256, 1000]:
        yield f"bytes {n}", bytes((i * 7 + n) % 256 for i in range(n))
    yield "str empty", ""
    yield "str ascii", "hello"
    yield "str unicode", "h\u00e9llo w\u00f6rld \u2603 \U0001F600"
    yield "str 300", "x" * 300
    # A str is a unicode tag then its UTF-8 bytes with the bytes' own tags: 1-4 (STR1..4),
    # up to 255 (STR_L1) and beyond (STR_L4), counted in bytes, not characters.
    yield "str 1 char, 2 bytes", "\u00e9"
    yield "str 2 chars, 4 bytes", "\u00e9\u00e9"
    yield "str 1 char, 4 bytes", "\U0001F600"
    yield "str 85 chars, 255 bytes", "\u2603" * 85
    yield "str 128 chars, 256 bytes", "\u00e9" * 128
    yield "str NUL", "a\x00b"
    yield "tuple of empties", ((), "", b"", frozenset(), None)
    yield "tuple empty", ()
    for n in [1, 2, 3, 4, 5, 255, 256, 1000]:
        yield f"tuple {n}", tuple(range(n))
    yield "tuple nested", (1, (2, (3, (4, ()))), ("a", b"b"), None)
    yield "tuple mixed", ("he", 7, "llo", 8, (), 900, None, True, Ellipsis, 18.2, 18.2j + 13,
                          slice(1, 2, 3), frozenset([5, 6, 7]), NotImplemented)
    yield "slice", slice(1, None, -1)
    yield "slice none", slice(None, None, None)
    yield "frozenset empty", frozenset()
    yield "frozenset ints", frozenset([5, 6, 7, 1000])
    yield "frozenset strs", frozenset(["a"])
    yield "rpyc request", (7, (8, (1, (("rpclab.CalculatorService", 1, 2), "add", (2, 5), ()))))


def main():
    if "--reload" in sys.argv:
        for line in sys.stdin:
            line = line.strip()
            if not line:
                continue
            v = brine.load(bytes.fromhex(line))
            print(json.dumps({"hex": brine.dump(v).hex(), "value": tagged(v)}), flush=True)
        return
    out = [{"name": name, "hex": brine.dump(v).hex(), "value": tagged(v)} for name, v in cases()]
    # One vector per line: readable diffs when the file is regenerated.
    sys.stdout.write('{"rpyc": %s, "vectors": [\n' % json.dumps(__import__("rpyc").__version__))
    sys.stdout.write(",\n".join(json.dumps(v) for v in out))
    sys.stdout.write("\n]}\n")


if __name__ == "__main__":
    main()
