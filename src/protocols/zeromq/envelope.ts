/**
 * ROUTER framing. A ROUTER socket prefixes each incoming message with the sender's routing
 * id; a REQ peer then adds an empty delimiter frame before its body (with ZMQ_REQ_CORRELATE,
 * a request-id frame precedes the delimiter). Everything up to and including the first
 * empty frame is the envelope, sent back verbatim in front of the reply so the REQ/DEALER
 * peer gets its reply routed and framed the way it expects. A raw DEALER that sends no
 * delimiter gets its reply without one.
 */
export interface SplitMessage {
  readonly envelope: Buffer[];
  readonly body: Buffer[];
}

export function splitEnvelope(frames: readonly Buffer[]): SplitMessage {
  const at = bodyStart(frames);
  return { envelope: frames.slice(0, at), body: frames.slice(at) };
}

/** Index of the first body frame (the envelope is every frame before it). */
export function bodyStart(frames: readonly Buffer[]): number {
  for (let i = 1; i < frames.length; i++) {
    if (frames[i]!.length === 0) return i + 1;
  }
  return 1;
}
