# What a Python client gets for wrong types and isinstance() checks: apply(5, 1, 2) with 5 not
# callable, isinstance() with the root on either side, and HANDLE_INSTANCECHECK sent as rpyc's
# netref.__instancecheck__ sends it (a netref class's id pack against ours) with builtin, unknown
# and malformed id packs. Prints one JSON object (exception type and first line of its message),
# so rpyc's own server (full_server.py) and ours can be compared. Port as argv[1]. rpyc 5 and 6.
import json
import sys

import rpyc
from rpyc.core import consts

c = rpyc.connect("127.0.0.1", int(sys.argv[1]))
root = c.root
out = {}


def attempt(name, fn):
    try:
        out[name] = repr(fn())
    except Exception as e:  # noqa: BLE001 - we report whatever comes back
        out[name] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"


def instancecheck(obj, pack):
    return c.sync_request(consts.HANDLE_INSTANCECHECK, obj, pack)


attempt("apply(5, 1, 2)", lambda: root.apply(5, 1, 2))
attempt("isinstance(root, int)", lambda: isinstance(root, int))
attempt("isinstance(root, object)", lambda: isinstance(root, object))
attempt("isinstance(root, type(root))", lambda: isinstance(root, type(root)))
attempt("isinstance(5, root)", lambda: isinstance(5, root))
attempt("isinstance(root.add, root)", lambda: isinstance(root.add, root))
attempt("INSTANCECHECK root builtins.int", lambda: instancecheck(root, ("builtins.int", 1, 0)))
attempt("INSTANCECHECK root builtins.function", lambda: instancecheck(root, ("builtins.function", 7, 3)))
attempt("INSTANCECHECK root.add builtins.method", lambda: instancecheck(root.add, ("builtins.method", 1, 0)))
attempt("INSTANCECHECK root unknown class", lambda: instancecheck(root, ("foo.Bar", 1, 0)))
attempt("INSTANCECHECK root its own class", lambda: instancecheck(root, (root.____id_pack__[0], root.____id_pack__[1], 0)))
attempt("INSTANCECHECK root int", lambda: instancecheck(root, 5))
attempt("INSTANCECHECK root 1-tuple", lambda: instancecheck(root, ("builtins.int",)))
attempt("INSTANCECHECK root 1-char str", lambda: instancecheck(root, "x"))
attempt("INSTANCECHECK root None", lambda: instancecheck(root, None))
c.close()
print(json.dumps(out))
