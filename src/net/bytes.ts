/**
 * Byte helpers shared by the protocols' writers.
 */

/**
 * Payloads this large are written from their own memory as a part of the message (one writev)
 * instead of being copied into the message buffer; below it, copying costs less than a part.
 */
export const SHARED_PAYLOAD_BYTES = 32 * 1024;

/** `bytes` as a Buffer over the same memory (no copy). */
export const bufferView = (bytes: Uint8Array): Buffer =>
  bytes instanceof Buffer ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
