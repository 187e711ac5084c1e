/** Protocol constants of rpyc 6.0.2 (rpyc/core/consts.py; the same codes since rpyc 4.1). */

/** Message type: the first byte of every frame's payload. */
export const Msg = { REQUEST: 1, REPLY: 2, EXCEPTION: 3 } as const;

/** How a boxed value travels: by value, as a tuple of boxes, or by reference. */
export const Label = {
  VALUE: 1,
  TUPLE: 2,
  /** A reference to an object that lives on the receiver (the sender holds a netref to it). */
  LOCAL_REF: 3,
  /** A reference to an object that lives on the sender (the receiver makes a netref). */
  REMOTE_REF: 4,
} as const;

/** Request handler codes. */
export const Handle = {
  PING: 1,
  CLOSE: 2,
  GETROOT: 3,
  GETATTR: 4,
  DELATTR: 5,
  SETATTR: 6,
  CALL: 7,
  CALLATTR: 8,
  REPR: 9,
  STR: 10,
  CMP: 11,
  HASH: 12,
  DIR: 13,
  PICKLE: 14,
  DEL: 15,
  INSPECT: 16,
  BUFFITER: 17,
  OLDSLICING: 18,
  CTXEXIT: 19,
  INSTANCECHECK: 20,
} as const;

export const handleNames: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries(Handle).map(([k, v]) => [v, k]),
);

/** vinegar's shorthand for StopIteration (an int instead of the exception tuple). */
export const EXC_STOP_ITERATION = 1;

/** rpyc's Channel compresses payloads above this many bytes (zlib level 1). */
export const COMPRESSION_THRESHOLD = 3000;
export const COMPRESSION_LEVEL = 1;

export const DEFAULT_PORT = 18861;

/** rpyc's DEFAULT_CONFIG sync_request_timeout: how long a Python service waits on a client's callback. */
export const SYNC_REQUEST_TIMEOUT_MS = 30_000;

/** The variant whose client speaks the rpyc 4.1–5.x message envelope (servers accept both). */
export const VARIANT_RPYC5 = 'tcp-rpyc5';
