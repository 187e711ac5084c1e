"""Protocol/transport choice shared by full_server.py and full_client.py.

Usage: <script> [port] [--protocol binary|compact] [--transport buffered|framed]
Defaults are thriftpy2's make_server/make_client defaults: binary + buffered.
"""
import argparse
import os

import thriftpy2
from thriftpy2.protocol import TBinaryProtocolFactory, TCompactProtocolFactory
from thriftpy2.transport import TBufferedTransportFactory, TFramedTransportFactory

HERE = os.path.dirname(os.path.abspath(__file__))

# Loaded by absolute path so the script runs from any directory; same file as the TypeScript side.
calculator_thrift = thriftpy2.load(os.path.join(HERE, "calculator.thrift"), module_name="calculator_thrift")


def parse():
    parser = argparse.ArgumentParser()
    parser.add_argument("port", nargs="?", type=int, default=9090)
    parser.add_argument("--protocol", choices=["binary", "compact"], default="binary")
    parser.add_argument("--transport", choices=["buffered", "framed"], default="buffered")
    args = parser.parse_args()
    proto = TBinaryProtocolFactory() if args.protocol == "binary" else TCompactProtocolFactory()
    trans = TBufferedTransportFactory() if args.transport == "buffered" else TFramedTransportFactory()
    return args.port, proto, trans
