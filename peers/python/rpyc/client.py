# The survey's RPyC client (the survey lists client.py without its code; this is the obvious
# one): connects to 127.0.0.1, port as the first argument (default 18861), prints add(2, 5).
import sys

import rpyc

port = int(sys.argv[1]) if len(sys.argv) > 1 else 18861

conn = rpyc.connect("127.0.0.1", port)
print(conn.root.add(2, 5))
