/**
 * gRPC reference row (@grpc/grpc-js + @grpc/proto-loader): one of the two things the survey is an
 * alternative to, serving the same Calculator so the bench can put it beside every protocol.
 * The .proto pairs each contract method `m` with rpc `M(MRequest) returns (MReply)`, request
 * fields named as the parameters, the reply's field `result`. Typed errors travel as a gRPC
 * status plus our stable code in the `rpclab-error-code` trailer.
 */
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { createClient } from '../../contract/client.js';
import { createDispatcher } from '../../contract/dispatch.js';
import {
  type ErrorCode,
  errorFromCode,
  isErrorCode,
  TransportError,
  toRpcError,
} from '../../contract/errors.js';
import type { Client, Contract, Implementation } from '../../contract/spec.js';
import { validateArgs } from '../../contract/validate.js';
import { withTimeout } from '../../net/deadline.js';
import { repoRoot } from '../../peers/python.js';
import {
  type ConnectOptions,
  DEFAULT_HOST,
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_TIMEOUT_MS,
  type Protocol,
  type RunningServer,
  type ServeOptions,
} from '../../protocols/types.js';

/** Resolved from the repository root so the same file serves tsx runs and compiled dist/ runs. */
export const calculatorProto = path.join(repoRoot, 'src', 'bench', 'reference', 'calculator.proto');
const CODE_KEY = 'rpclab-error-code';

const statusOf: Partial<Record<ErrorCode, grpc.status>> = {
  DIVIDE_BY_ZERO: grpc.status.INVALID_ARGUMENT,
  INVALID_ARGUMENT: grpc.status.INVALID_ARGUMENT,
  NO_SUCH_METHOD: grpc.status.UNIMPLEMENTED,
  MESSAGE_TOO_LARGE: grpc.status.RESOURCE_EXHAUSTED,
  TIMEOUT: grpc.status.DEADLINE_EXCEEDED,
};

const rpcName = (method: string) => method.charAt(0).toUpperCase() + method.slice(1);

function loadService(contract: Contract, schemaPath: string | undefined): grpc.ServiceDefinition {
  const definition = protoLoader.loadSync(schemaPath ?? calculatorProto, {
    keepCase: true,
    longs: Number,
    defaults: true,
  });
  const key = Object.keys(definition).find((k) => k === contract.name || k.endsWith(`.${contract.name}`));
  const service = key === undefined ? undefined : definition[key];
  // Message types carry a `format` field; service definitions do not.
  if (service === undefined || 'format' in service) {
    throw new TypeError(`no gRPC service named ${contract.name} in ${schemaPath ?? calculatorProto}`);
  }
  return service as unknown as grpc.ServiceDefinition;
}

function channelOptions(maxBytes: number): grpc.ChannelOptions {
  return {
    // grpc-js shares one connection between clients of the same target unless told otherwise;
    // the bench's "one connection per call in flight" needs each client on its own.
    'grpc.use_local_subchannel_pool': 1,
    'grpc.max_receive_message_length': maxBytes,
    'grpc.max_send_message_length': maxBytes,
  };
}

async function serve<C extends Contract>(
  contract: C,
  impl: Implementation<C>,
  options: ServeOptions = {},
): Promise<RunningServer> {
  const service = loadService(contract, options.schemaPath);
  const dispatch = createDispatcher(contract, impl);
  const host = options.host ?? DEFAULT_HOST;
  const server = new grpc.Server(channelOptions(options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES));
  const handlers: grpc.UntypedServiceImplementation = {};
  for (const [name, spec] of Object.entries(contract.methods)) {
    handlers[rpcName(name)] = (
      call: grpc.ServerUnaryCall<Record<string, unknown>, unknown>,
      callback: grpc.sendUnaryData<unknown>,
    ) => {
      dispatch(
        name,
        spec.params.map((p) => call.request[p.name]),
      ).then(
        (result) => callback(null, { result }),
        (err: unknown) => {
          const e = toRpcError(err);
          const metadata = new grpc.Metadata();
          metadata.set(CODE_KEY, e.code);
          callback({ code: statusOf[e.code] ?? grpc.status.INTERNAL, details: e.message, metadata });
        },
      );
    };
  }
  server.addService(service, handlers);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(
      `${host}:${options.port ?? grpcReference.defaultPort}`,
      grpc.ServerCredentials.createInsecure(),
      (err, bound) => (err ? reject(err) : resolve(bound)),
    );
  });
  return {
    host,
    port,
    address: `grpc://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.forceShutdown();
        resolve();
      }),
  };
}

async function connect<C extends Contract>(contract: C, options: ConnectOptions = {}): Promise<Client<C>> {
  const service = loadService(contract, options.schemaPath);
  const host = options.host ?? DEFAULT_HOST;
  const port = options.port ?? grpcReference.defaultPort;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const client = new grpc.Client(
    `${host}:${port}`,
    grpc.credentials.createInsecure(),
    channelOptions(options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES),
  );
  return createClient(contract, {
    call: (method, args) => {
      const spec = contract.methods[method];
      const def = service[rpcName(method)];
      if (spec === undefined || def === undefined) {
        return Promise.reject(errorFromCode('NO_SUCH_METHOD', `no such method: ${method}`));
      }
      // protobuf would silently coerce add(1.5, 2) to add(1, 2); a typed stub rejects it before sending.
      let checked: unknown[];
      try {
        checked = validateArgs(method, spec, args);
      } catch (err) {
        return Promise.reject(err);
      }
      const request: Record<string, unknown> = {};
      spec.params.forEach((p, i) => {
        request[p.name] = checked[i];
      });
      let pending: grpc.ClientUnaryCall | undefined;
      const call = new Promise<unknown>((resolve, reject) => {
        pending = client.makeUnaryRequest(
          def.path,
          def.requestSerialize,
          def.responseDeserialize as (b: Buffer) => Record<string, unknown>,
          request,
          new grpc.Metadata(),
          {},
          (err, reply) => {
            if (err) {
              const code = err.metadata?.get(CODE_KEY)[0];
              if (typeof code === 'string' && isErrorCode(code)) reject(errorFromCode(code, err.details));
              else if (err.code === grpc.status.UNIMPLEMENTED)
                reject(errorFromCode('NO_SUCH_METHOD', err.details));
              else reject(new TransportError(`grpc ${method}: ${err.details || err.message}`));
            } else {
              const result = reply?.result;
              // proto-loader hands bytes back as Buffer; the contract's canonical form is a plain view.
              resolve(
                result instanceof Buffer
                  ? new Uint8Array(result.buffer, result.byteOffset, result.length)
                  : result,
              );
            }
          },
        );
      });
      // A local timer rather than a gRPC deadline: the deadline travels as a grpc-timeout header
      // whose length depends on the time left, which would make bytes per call vary between runs.
      return withTimeout(call, timeoutMs, `grpc ${method}`, () => pending?.cancel());
    },
    close: async () => client.close(),
  });
}

export const grpcReference: Protocol = {
  name: 'grpc',
  title: 'gRPC (reference)',
  defaultPort: 50051,
  traits: { schema: 'idl', encoding: 'binary', transport: 'HTTP/2', callbacks: false, pipelining: true },
  variants: ['proto3'],
  serve,
  connect,
};
