/**
 * Plain REST reference row (node:http + JSON): the other thing the survey is an alternative to.
 * `POST /<method>` with a JSON object of the named parameters, answered by `{"result": ...}` or
 * `{"error": {"code", "message"}}` with a 4xx/5xx status. Bytes travel as base64 strings, as they
 * must in JSON. The client keeps connections alive, as any production REST client would.
 */
import http from 'node:http';
import type net from 'node:net';
import { createClient } from '../../contract/client.js';
import { createDispatcher } from '../../contract/dispatch.js';
import {
  type ErrorCode,
  errorFromCode,
  isErrorCode,
  MessageTooLargeError,
  ProtocolError,
  TransportError,
  toRpcError,
} from '../../contract/errors.js';
import type { Client, Contract, Implementation, ValueType } from '../../contract/spec.js';
import { withTimeout } from '../../net/deadline.js';
import {
  type ConnectOptions,
  DEFAULT_HOST,
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_TIMEOUT_MS,
  type Protocol,
  type RunningServer,
  type ServeOptions,
} from '../../protocols/types.js';

const statusOf: Partial<Record<ErrorCode, number>> = {
  DIVIDE_BY_ZERO: 400,
  INVALID_ARGUMENT: 400,
  PROTOCOL: 400,
  NO_SUCH_METHOD: 404,
  MESSAGE_TOO_LARGE: 413,
};

function toJson(type: ValueType, value: unknown): unknown {
  if (type === 'binary' && value instanceof Uint8Array) {
    return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64');
  }
  if (type === 'i64' && typeof value === 'bigint') return value.toString();
  // JSON has no Infinity or NaN; carry them as the strings JavaScript prints for them.
  if (type === 'double' && typeof value === 'number' && !Number.isFinite(value)) return String(value);
  return value;
}

function fromJson(type: ValueType, value: unknown): unknown {
  if (type === 'binary' && typeof value === 'string') {
    const b = Buffer.from(value, 'base64');
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  }
  if (type === 'i64' && typeof value === 'string' && /^-?\d+$/.test(value)) return BigInt(value);
  if (type === 'double' && (value === 'Infinity' || value === '-Infinity' || value === 'NaN'))
    return Number(value);
  return value;
}

function readBody(stream: http.IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        reject(new MessageTooLargeError(size, limit));
        stream.destroy();
        return;
      }
      chunks.push(c);
    });
    stream.once('end', () => resolve(Buffer.concat(chunks, size)));
    stream.once('error', reject);
  });
}

async function serve<C extends Contract>(
  contract: C,
  impl: Implementation<C>,
  options: ServeOptions = {},
): Promise<RunningServer> {
  const dispatch = createDispatcher(contract, impl);
  const host = options.host ?? DEFAULT_HOST;
  const limit = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const sockets = new Set<net.Socket>();
  const reply = (res: http.ServerResponse, status: number, body: unknown) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };
  const server = http.createServer(async (req, res) => {
    try {
      const method = (req.url ?? '/').slice(1);
      const spec = Object.hasOwn(contract.methods, method) ? contract.methods[method] : undefined;
      if (req.method !== 'POST' || spec === undefined) {
        req.resume();
        throw errorFromCode('NO_SUCH_METHOD', `no such method: ${req.method} /${method}`);
      }
      let params: unknown;
      try {
        params = JSON.parse((await readBody(req, limit)).toString());
      } catch (err) {
        throw err instanceof MessageTooLargeError ? err : new ProtocolError('request body is not JSON');
      }
      if (typeof params !== 'object' || params === null)
        throw new ProtocolError('request body is not an object');
      const args = spec.params.map((p) => fromJson(p.type, (params as Record<string, unknown>)[p.name]));
      const result = await dispatch(method, args);
      reply(res, 200, { result: toJson(spec.result, result) });
    } catch (err) {
      const e = toRpcError(err);
      if (!res.headersSent)
        reply(res, statusOf[e.code] ?? 500, { error: { code: e.code, message: e.message } });
    }
  });
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.setNoDelay(true);
    s.on('close', () => sockets.delete(s));
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? restReference.defaultPort, host, () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    host,
    port,
    address: `http://${host}:${port}/`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

async function connect<C extends Contract>(contract: C, options: ConnectOptions = {}): Promise<Client<C>> {
  const host = options.host ?? DEFAULT_HOST;
  const port = options.port ?? restReference.defaultPort;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const limit = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const agent = new http.Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });
  return createClient(contract, {
    call: (method, args) => {
      const spec = Object.hasOwn(contract.methods, method) ? contract.methods[method] : undefined;
      const body: Record<string, unknown> = {};
      spec?.params.forEach((p, i) => {
        body[p.name] = toJson(p.type, args[i]);
      });
      const text = JSON.stringify(body);
      let request: http.ClientRequest | undefined;
      const call = new Promise<unknown>((resolve, reject) => {
        request = http.request(
          {
            host,
            port,
            method: 'POST',
            path: `/${method}`,
            agent,
            headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) },
          },
          (res) => {
            readBody(res, limit).then((raw) => {
              let parsed: { result?: unknown; error?: { code?: unknown; message?: unknown } };
              try {
                parsed = JSON.parse(raw.toString());
              } catch {
                reject(new ProtocolError(`REST ${method}: reply is not JSON (status ${res.statusCode})`));
                return;
              }
              if (parsed.error !== undefined) {
                const code = parsed.error.code;
                reject(errorFromCode(isErrorCode(code) ? code : 'INTERNAL', String(parsed.error.message)));
              } else {
                resolve(fromJson(spec?.result ?? 'string', parsed.result));
              }
            }, reject);
          },
        );
        request.once('error', (e) => reject(new TransportError(`REST ${method}: ${e.message}`)));
        request.end(text);
      });
      return withTimeout(call, timeoutMs, `REST ${method}`, () => request?.destroy());
    },
    close: async () => agent.destroy(),
  });
}

export const restReference: Protocol = {
  name: 'rest',
  title: 'REST + JSON (reference)',
  defaultPort: 8080,
  traits: { schema: 'none', encoding: 'text', transport: 'HTTP/1.1', callbacks: false, pipelining: false },
  variants: ['json'],
  serve,
  connect,
};
