# Calculator client on the official Apache Thrift Python library (thrift 0.25) and code
# generated from our calculator.thrift. Runs a fixed list of calls and prints ONE JSON line
# with what came back (values, or "<ExceptionType>: <message>").
# Usage: client.py [port] [--protocol ...] [--transport ...]
import json
import math

from options import parse

from calculator import Calculator
from calculator.ttypes import DivideByZero, InvalidArgument
from thrift.Thrift import TApplicationException, TMessageType, TType
from thrift.transport import TSocket


def describe_double(x):
    # JSON has no NaN/Infinity/-0.0: describe the value instead.
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == 0:
        return "-0.0" if math.copysign(1, x) < 0 else "0.0"
    return x


def error(e):
    if isinstance(e, TApplicationException):
        return "TApplicationException(%d): %s" % (e.type, e.message)
    return "%s: %s" % (type(e).__name__, getattr(e, "message", str(e)))


def raw_call(client, name, write_args, result_cls=None):
    """Sends a call the generated code cannot (unknown method, mistyped field) and reads the answer."""
    oprot, iprot = client._oprot, client._iprot
    oprot.writeMessageBegin(name, TMessageType.CALL, 77)
    oprot.writeStructBegin("args")
    write_args(oprot)
    oprot.writeFieldStop()
    oprot.writeStructEnd()
    oprot.writeMessageEnd()
    oprot.trans.flush()
    fname, mtype, seqid = iprot.readMessageBegin()
    if mtype == TMessageType.REPLY and result_cls is not None:
        result = result_cls()
        result.read(iprot)
        iprot.readMessageEnd()
        raised = [v for k, v in vars(result).items() if k != "success" and v is not None]
        return {"seqid": seqid, "name": fname, "error": error(raised[0])} if raised else {"success": result.success}
    if mtype != TMessageType.EXCEPTION:
        iprot.skip(TType.STRUCT)
        iprot.readMessageEnd()
        return "message type %d for %s" % (mtype, fname)
    x = TApplicationException()
    x.read(iprot)
    iprot.readMessageEnd()
    return {"seqid": seqid, "name": fname, "error": error(x)}


def mistyped_add(oprot):
    oprot.writeFieldBegin("a", TType.STRING, 1)
    oprot.writeString("two")
    oprot.writeFieldEnd()
    oprot.writeFieldBegin("b", TType.I32, 2)
    oprot.writeI32(5)
    oprot.writeFieldEnd()


args = parse()
transport = args.trans.getTransport(TSocket.TSocket("127.0.0.1", args.port))
client = Calculator.Client(args.proto.getProtocol(transport))
transport.open()
out = {}


def attempt(key, fn, convert=lambda v: v):
    try:
        out[key] = convert(fn())
    except (DivideByZero, InvalidArgument, TApplicationException) as e:
        out[key] = error(e)


attempt("add", lambda: client.add(2, 5))
attempt("add_negative", lambda: client.add(-7, -8))
attempt("add_min", lambda: client.add(-(2 ** 31), 0))
attempt("add_overflow", lambda: client.add(2 ** 31 - 1, 1))
attempt("divide", lambda: client.divide(1, 4))
attempt("divide_by_zero", lambda: client.divide(1, 0))
attempt("divide_negative_zero", lambda: client.divide(-0.0, 5), describe_double)
attempt("divide_nan", lambda: client.divide(float("nan"), 1), describe_double)
attempt("divide_inf", lambda: client.divide(float("inf"), 2), describe_double)
attempt("divide_overflow_to_inf", lambda: client.divide(1e308, 1e-10), describe_double)
data = bytes((i * 31 + 7) & 0xFF for i in range(1024 * 1024))
attempt("echo_ok", lambda: client.echo(data) == data)
attempt("echo_empty", lambda: client.echo(b""), lambda v: v.hex())
out["unknown_method"] = raw_call(client, "multiply", lambda oprot: None)
out["mistyped_argument"] = raw_call(client, "add", mistyped_add, Calculator.add_result)
attempt("add_after_errors", lambda: client.add(20, 22))
transport.close()
print(json.dumps(out, sort_keys=True))
