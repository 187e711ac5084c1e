# Loads the one Calculator schema the TypeScript row serves (src/protocols/capnp/calculator.capnp),
# so the peers and our row cannot drift apart.
import os

import capnp

SCHEMA = os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "src", "protocols", "capnp", "calculator.capnp")
)
calculator_capnp = capnp.load(SCHEMA)
