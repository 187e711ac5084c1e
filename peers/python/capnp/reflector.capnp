@0xe2d62c29a5396380;
# The embargo test schema (issue 11): a Reflector hands back the capability it was given, so a
# caller that pipelines calls on the promised result sees them go out to the Reflector, come
# back to its own object, and must not be overtaken by the calls it makes once the promise has
# resolved to that local object (rpc.capnp, Disembargo). Used by reflector_server.py,
# reflector_client.py and test/capnp/embargo.test.ts.

interface Counter {
  # Records `seq` and returns it: the object sees calls in the order they reach it.
  next @0 (seq :UInt32) -> (seq :UInt32);
}

interface Reflector {
  # Returns `cap` at once.
  reflect @0 (cap :Counter) -> (cap :Counter);

  # Returns `cap` only once `release` has been called on the same Reflector, so calls pipelined
  # on the result wait at the Reflector and the Return leaves with them (no timing involved).
  hold @1 (cap :Counter) -> (cap :Counter);

  # Lets every pending `hold` return (and resolves every `later` promise); `held` is how many
  # were waiting.
  release @2 () -> (held :UInt32);

  # Returns at once a promise of `cap` that resolves once `release` is called: the caller's
  # promise resolves to its own object by a Resolve message rather than by the Return.
  later @3 (cap :Counter) -> (cap :Counter);
}
