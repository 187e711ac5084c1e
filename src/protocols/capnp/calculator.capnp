@0xf7b94b49ed27546b;
# The Calculator contract as a Cap'n Proto schema (issue 11). add, divide and echo are the
# contract's methods; adder and apply show what Cap'n Proto adds: capabilities as values.

interface Calculator {
  add @0 (a :Int32, b :Int32) -> (result :Int32);
  # Fails (an exception whose reason starts with DIVIDE_BY_ZERO) when b == 0.
  divide @1 (a :Float64, b :Float64) -> (result :Float64);
  echo @2 (data :Data) -> (data :Data);

  # Returns a capability that adds `base` to what it is given: calling it on the promised
  # result (`calc.adder(5).adder.add(2)`) is one round trip with promise pipelining.
  adder @3 (base :Int32) -> (adder :Adder);

  # Calls the caller's own capability back: the server computes fn.call(a, b).
  apply @4 (fn :Function, a :Int32, b :Int32) -> (result :Int32);
}

interface Adder {
  add @0 (x :Int32) -> (result :Int32);
}

interface Function {
  call @0 (a :Int32, b :Int32) -> (result :Int32);
}
