/**
 * The Calculator service of rpclab, shared by every Thrift peer: the TypeScript server and
 * client load it at runtime, and the Python peers (thriftpy2) load the same file.
 * add(1: i32 a, 2: i32 b) is the survey's signature.
 */
namespace py calculator
namespace js calculator

/** divide(a, 0): raised instead of returning an infinity, so every peer sees a typed error. */
exception DivideByZero {
  1: string message
}

/** Arguments the contract cannot carry, e.g. an add() whose sum overflows a 32-bit integer. */
exception InvalidArgument {
  1: string message
}

service Calculator {
  i32 add(1: i32 a, 2: i32 b) throws (1: InvalidArgument invalid),
  double divide(1: double a, 2: double b) throws (1: DivideByZero divide_by_zero),
  binary echo(1: binary data),
}
