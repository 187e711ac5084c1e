# zeep 4.3.3 calling a Calculator service the way its users do: it reads the WSDL, binds the
# SOAP 1.1 or 1.2 port and calls add, divide (by zero too) and echo (1 MiB). Prints one JSON
# object per check, for the interop tests to read.
# Usage: python full_client.py WSDL_URL [11|12]
import hashlib
import json
import sys

from zeep import Client
from zeep.exceptions import Fault
from zeep.transports import Transport

wsdl = sys.argv[1]
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


def emit(**fields):
    print(json.dumps(fields), flush=True)


emit(check="add", result=service.add(2, 5))
emit(check="divide", result=service.divide(1, 4))
try:
    service.divide(1, 0)
    emit(check="divide_by_zero", raised=None)
except Fault as fault:
    detail = None if fault.detail is None else [child.tag for child in fault.detail]
    emit(check="divide_by_zero", raised="Fault", code=str(fault.code), message=fault.message, detail=detail)
data = bytes((i * 7 + 3) % 256 for i in range(1024 * 1024))
back = service.echo(data)
emit(check="echo", length=len(back), same=hashlib.sha256(back).hexdigest() == hashlib.sha256(data).hexdigest())
