# zeep 4.3.3 calling a Calculator service the way its users do: it reads the WSDL, binds the
# SOAP 1.1 or 1.2 port and calls add, divide (by zero too) and echo (1 MiB). Prints one JSON
# report on its last line, for the interop CLI and tests to read.
# Usage: python full_client.py PORT|WSDL_URL [11|12]
import json
import sys

from zeep import Client
from zeep.exceptions import Fault
from zeep.transports import Transport

target = sys.argv[1] if len(sys.argv) > 1 else "8000"
wsdl = target if "://" in target else f"http://127.0.0.1:{target}/?wsdl"
version = sys.argv[2] if len(sys.argv) > 2 else "11"
client = Client(wsdl, transport=Transport(timeout=20, operation_timeout=20))
# Our WSDL has one port per SOAP version; pick the one asked for by its binding's SOAP version.
service = None
for svc in client.wsdl.services.values():
    for port in svc.ports.values():
        soap12 = port.binding.__class__.__name__ == "Soap12Binding"
        if soap12 == (version == "12"):
            service = client.bind(svc.name, port.name)
            break
    if service is not None:
        break
if service is None:
    raise SystemExit(f"no SOAP {version} port in {wsdl}")


report = {"soap_version": version, "add": service.add(2, 5), "divide": service.divide(1, 4)}
try:
    service.divide(1, 0)
    report["divide_by_zero"] = ""
except Fault as fault:
    report["divide_by_zero"] = f"zeep.exceptions.Fault: {fault.message}"
    report["fault_code"] = str(fault.code)
    report["fault_detail"] = None if fault.detail is None else [child.tag for child in fault.detail]
data = bytes((i * 7 + 3) % 256 for i in range(1024 * 1024))
back = service.echo(data)
report["echo_ok"] = back == data
print(json.dumps(report), flush=True)
