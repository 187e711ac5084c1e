# Seed corpus for scripts/fuzz/thrift.ts: the exact bytes thriftpy2 and the Apache Thrift
# Python library write for calls and replies (Calculator; toolbox.thrift's structs, containers,
# enums, oneway and declared exceptions), in the binary and compact protocols. Encoded in memory
# (TMemoryBuffer), no sockets; framing is added by the harness. Prints one JSON array of
# {"source", "idl", "encoding", "kind": "call"|"reply", "method", "hex"}.
# Usage: fuzz_corpus.py <toolbox.thrift>
import json
import os
import sys

import thriftpy2
from thriftpy2.protocol import TBinaryProtocolFactory, TCompactProtocolFactory
from thriftpy2.thrift import TClient, TProcessor, args_to_kwargs
from thriftpy2.transport import TMemoryBuffer

HERE = os.path.dirname(os.path.abspath(__file__))
calc = thriftpy2.load(os.path.join(HERE, "calculator.thrift"), module_name="calc_fuzz_thrift")
toolbox = thriftpy2.load(sys.argv[1], module_name="toolbox_fuzz_thrift")


class Calc:
    def add(self, a, b):
        if not -(2 ** 31) <= a + b < 2 ** 31:
            raise calc.InvalidArgument(message="overflow")
        return a + b

    def divide(self, a, b):
        if b == 0:
            raise calc.DivideByZero(message="division by zero")
        return a / b

    def echo(self, data):
        return data


class Tools:
    def ping(self):
        return "pong"

    def reset(self):
        pass

    def note(self, text):
        pass

    def notes(self):
        return ["a", "bc"]

    def compute(self, work, mode):
        return toolbox.Outcome(
            value=2 ** 53 + 1, op=mode, raw=b"\x00\xff", counts={"big": 2 ** 62, "neg": -1},
            tags={3, 1}, history=[work, work], ratio=float("inf"),
        )

    def summarize(self, values, weights, labels):
        return {"sum": sum(values), "labels": len(labels)}

    def echoS(self, s):
        return s

    def add(self, a, b):
        return a + b

    def half(self, n):
        return n // 2

    def flip(self, data):
        return bytes(reversed(data))

    def scale(self, x, negate):
        return -x if negate else x * 2

    def fail(self, why):
        raise toolbox.Oops(message=why, code=7)


CALC_CALLS = [("add", (2, 5)), ("add", (2147483647, 1)), ("divide", (7, 2)), ("divide", (1, 0)),
              ("echo", (b"\x00\x01hello\xff",)), ("nosuch", ())]
TOOL_CALLS = [
    ("ping", ()), ("reset", ()), ("note", ("hi",)), ("notes", ()),
    ("compute", (toolbox.Work(num1=3, num2=4, op=toolbox.Op.ADD, comment="c"), toolbox.Op.MUL)),
    ("summarize", ([1, -2, 2 ** 40], {"a": 1, "b": -1}, {"x", "y"})),
    ("echoS", ("s\u00e9",)), ("add", ("a", "b")), ("half", (9,)), ("flip", (b"\x01\x02\x03",)),
    ("scale", (1.5, True)), ("fail", ("why",)),
]
out = []


def emit(source, idl, encoding, kind, method, data):
    out.append({"source": source, "idl": idl, "encoding": encoding, "kind": kind, "method": method,
                "hex": data.hex()})


def thriftpy2_pairs(service, handler, idl, calls, encoding, factory):
    for seqid, (name, args) in enumerate(calls, 1):
        if name == "nosuch":
            continue
        buf = TMemoryBuffer()
        client = TClient(service, factory.get_protocol(buf))
        client._seqid = seqid
        client._send(name, **args_to_kwargs(getattr(service, name + "_args").thrift_spec, *args))
        call = buf.getvalue()
        emit("thriftpy2", idl, encoding, "call", name, call)
        reply = TMemoryBuffer()
        TProcessor(service, handler).process(factory.get_protocol(TMemoryBuffer(call)),
                                             factory.get_protocol(reply))
        if reply.getvalue():
            emit("thriftpy2", idl, encoding, "reply", name, reply.getvalue())


for encoding, factory in (("binary", TBinaryProtocolFactory()), ("compact", TCompactProtocolFactory())):
    thriftpy2_pairs(calc.Calculator, Calc(), "calculator", CALC_CALLS, encoding, factory)
    thriftpy2_pairs(toolbox.Toolbox, Tools(), "toolbox", TOOL_CALLS, encoding, factory)

# Apache Thrift's Python library, with the code generated from calculator.thrift.
sys.path.insert(0, os.path.join(HERE, "..", "thrift_apache", "gen"))
from calculator import Calculator  # noqa: E402
from calculator.ttypes import DivideByZero, InvalidArgument  # noqa: E402
from thrift.protocol import TBinaryProtocol, TCompactProtocol  # noqa: E402
from thrift.transport import TTransport  # noqa: E402


class ApacheCalc:
    def add(self, a, b):
        if not -(2 ** 31) <= a + b < 2 ** 31:
            raise InvalidArgument(message="overflow")
        return a + b

    def divide(self, a, b):
        if b == 0:
            raise DivideByZero(message="division by zero")
        return a / b

    def echo(self, data):
        return data


for encoding, proto in (("binary", TBinaryProtocol.TBinaryProtocol), ("compact", TCompactProtocol.TCompactProtocol)):
    for seqid, (name, args) in enumerate(CALC_CALLS, 1):
        if name == "nosuch":
            continue
        buf = TTransport.TMemoryBuffer()
        client = Calculator.Client(proto(buf))
        client._seqid = seqid
        getattr(client, "send_" + name)(*args)
        call = buf.getvalue()
        emit("apache", "calculator", encoding, "call", name, call)
        reply = TTransport.TMemoryBuffer()
        Calculator.Processor(ApacheCalc()).process(proto(TTransport.TMemoryBuffer(call)), proto(reply))
        emit("apache", "calculator", encoding, "reply", name, reply.getvalue())

print(json.dumps(out))
