"""Protocol/transport choice shared by server.py and client.py (official Apache Thrift library).

Usage: <script> [port] [--protocol binary|compact|accelerated] [--transport buffered|framed]
Defaults: binary + buffered, as thriftpy2's make_server/make_client and our default variant.
`accelerated` is TBinaryProtocolAccelerated (the C extension `fastbinary`; same wire format).
The generated code for calculator.thrift lives in gen/ (see README.md).
"""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "gen"))

from thrift.protocol import TBinaryProtocol, TCompactProtocol  # noqa: E402
from thrift.transport import TTransport  # noqa: E402


def parse(extra=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("port", nargs="?", type=int, default=9090)
    parser.add_argument("--protocol", choices=["binary", "compact", "accelerated"], default="binary")
    parser.add_argument("--transport", choices=["buffered", "framed"], default="buffered")
    if extra:
        extra(parser)
    args = parser.parse_args()
    args.proto = {
        "binary": TBinaryProtocol.TBinaryProtocolFactory,
        "compact": TCompactProtocol.TCompactProtocolFactory,
        "accelerated": TBinaryProtocol.TBinaryProtocolAcceleratedFactory,
    }[args.protocol]()
    args.trans = (
        TTransport.TBufferedTransportFactory() if args.transport == "buffered" else TTransport.TFramedTransportFactory()
    )
    return args
