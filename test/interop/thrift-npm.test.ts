/**
 * Thrift interop with the npm `thrift` package's own client and server (0.24, the Node.js
 * implementation from Apache Thrift), in all four variants: its createConnection/createClient
 * against our server, TMultiplexedProtocol ("Calculator:add") included, and our client against
 * its createServer. The package needs generated code; the few classes below do what
 * `thrift --gen js:node` output does for calculator.thrift (send_x/recv_x, process_x).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import thriftLib from 'thrift';
import {
  calculator,
  calculatorContract,
  DivideByZeroError,
  InvalidArgumentError,
} from '../../src/contract/index.js';
import { thrift } from '../../src/protocols/thrift/index.js';
import type { ProtocolWriter } from '../../src/protocols/thrift/writer.js';
import type { RunningServer } from '../../src/protocols/types.js';

// ---- the slice of the package used here (its @types describe an older release) -----------

/** Its write half is the one our writers implement; the read half is the package's own. */
interface NpmProtocol
  extends Pick<
    ProtocolWriter,
    | 'writeMessageBegin'
    | 'writeMessageEnd'
    | 'writeStructBegin'
    | 'writeStructEnd'
    | 'writeFieldBegin'
    | 'writeFieldEnd'
    | 'writeFieldStop'
    | 'writeI32'
    | 'writeDouble'
    | 'writeString'
    | 'writeBinary'
  > {
  readMessageBegin(): { fname: string; mtype: number; rseqid: number };
  readMessageEnd(): void;
  readStructBegin(): void;
  readStructEnd(): void;
  readFieldBegin(): { ftype: number; fid: number };
  readFieldEnd(): void;
  readI32(): number;
  readDouble(): number;
  readString(): string;
  readBinary(): Buffer;
  skip(type: number): void;
}
type ProtocolCtor = new (transport: NpmTransport) => NpmProtocol;
interface NpmTransport {
  flush(): void;
}
type TransportCtor = new (buffer?: Buffer, onFlush?: (b: Buffer) => void) => NpmTransport;
interface TAppException extends Error {
  type: number;
  read(p: NpmProtocol): void;
  write(p: NpmProtocol): void;
}
interface NpmConnection {
  on(event: 'error', listener: (err: Error) => void): void;
  end(): void;
}
interface NpmServer {
  listen(port: number, host: string): void;
  once(event: 'listening', listener: () => void): void;
  address(): { port: number };
  close(cb: () => void): void;
  on(event: 'error', listener: (err: Error) => void): void;
}
interface Lib {
  TBinaryProtocol: ProtocolCtor;
  TCompactProtocol: ProtocolCtor;
  TBufferedTransport: TransportCtor;
  TFramedTransport: TransportCtor;
  Thrift: { TApplicationException: new (type?: number, message?: string) => TAppException };
  createConnection(
    host: string,
    port: number,
    options: { transport: TransportCtor; protocol: ProtocolCtor; connect_timeout: number },
  ): NpmConnection;
  createClient(ctor: typeof NpmCalculatorClient, conn: NpmConnection): NpmCalculatorClient;
  Multiplexer: new () => {
    createClient(service: string, ctor: typeof NpmCalculatorClient, conn: NpmConnection): NpmCalculatorClient;
  };
  createServer(
    processor: typeof NpmCalculatorProcessor,
    handler: unknown,
    options: { transport: TransportCtor; protocol: ProtocolCtor },
  ): NpmServer;
}
const lib = thriftLib as unknown as Lib;
// Its compact writer warns on every call its server answers ("SeqId already set").
(thriftLib as unknown as { setLogLevel(level: string): void }).setLogLevel('error');

const T = { STOP: 0, DOUBLE: 4, I32: 8, STRING: 11, STRUCT: 12 } as const;
const M = { CALL: 1, REPLY: 2, EXCEPTION: 3 } as const;

type Arg = readonly [id: number, type: number, value: number | Buffer | string];

function writeStruct(out: NpmProtocol, name: string, fields: readonly Arg[]): void {
  out.writeStructBegin(name);
  for (const [id, type, value] of fields) {
    out.writeFieldBegin('f', type, id);
    if (type === T.I32) out.writeI32(value as number);
    else if (type === T.DOUBLE) out.writeDouble(value as number);
    else if (typeof value === 'string') out.writeString(value);
    else out.writeBinary(value as Buffer);
    out.writeFieldEnd();
  }
  out.writeFieldStop();
  out.writeStructEnd();
}

/** Reads a struct of i32/double/binary fields and exception structs (their string field 1). */
function readStruct(input: NpmProtocol): Map<number, unknown> {
  const out = new Map<number, unknown>();
  input.readStructBegin();
  for (;;) {
    const { ftype, fid } = input.readFieldBegin();
    if (ftype === T.STOP) break;
    if (ftype === T.I32) out.set(fid, input.readI32());
    else if (ftype === T.DOUBLE) out.set(fid, input.readDouble());
    else if (ftype === T.STRING) out.set(fid, input.readBinary());
    else if (ftype === T.STRUCT) out.set(fid, { message: String(readStruct(input).get(1)) });
    else input.skip(ftype);
    input.readFieldEnd();
  }
  input.readStructEnd();
  return out;
}

type Callback = (err: unknown, value?: unknown) => void;

/** What generated CalculatorClient code does, for add/divide/echo and a `multiply` the IDL lacks. */
class NpmCalculatorClient {
  _seqid = 0;
  _reqs: Record<number, Callback> = {};
  constructor(
    readonly output: NpmTransport,
    readonly pClass: ProtocolCtor,
  ) {}
  new_seqid(): number {
    return this._seqid + 1;
  }
  seqid(): number {
    return this._seqid;
  }
  call(name: string, args: readonly Arg[]): Promise<unknown> {
    this._seqid = this.new_seqid();
    const seqid = this._seqid;
    return new Promise((resolve, reject) => {
      this._reqs[seqid] = (err, value) => (err ? reject(err) : resolve(value));
      const out = new this.pClass(this.output);
      out.writeMessageBegin(name, M.CALL, seqid);
      writeStruct(out, `${name}_args`, args);
      out.writeMessageEnd();
      this.output.flush();
    });
  }
  private recv(input: NpmProtocol, mtype: number, rseqid: number): void {
    const callback = this._reqs[rseqid] ?? (() => undefined);
    delete this._reqs[rseqid];
    if (mtype === M.EXCEPTION) {
      const x = new lib.Thrift.TApplicationException();
      x.read(input);
      input.readMessageEnd();
      callback(x);
      return;
    }
    const result = readStruct(input);
    input.readMessageEnd();
    if (result.has(1)) callback(result.get(1));
    else if (result.has(0)) callback(null, result.get(0));
    else callback(new Error('unknown result'));
  }
  recv_add = this.recv;
  recv_divide = this.recv;
  recv_echo = this.recv;
  recv_multiply = this.recv;
}

/** What a generated CalculatorProcessor does, over our reference implementation. */
class NpmCalculatorProcessor {
  process(input: NpmProtocol, output: NpmProtocol & { flush?: () => void }): void {
    const { fname, rseqid } = input.readMessageBegin();
    const args = readStruct(input);
    input.readMessageEnd();
    const reply = (fields: readonly Arg[]) => {
      output.writeMessageBegin(fname, M.REPLY, rseqid);
      writeStruct(output, `${fname}_result`, fields);
      output.writeMessageEnd();
    };
    if (fname === 'add') reply([[0, T.I32, (args.get(1) as number) + (args.get(2) as number)]]);
    else if (fname === 'divide') {
      const b = args.get(2) as number;
      if (b === 0) {
        output.writeMessageBegin(fname, M.REPLY, rseqid);
        output.writeStructBegin('divide_result');
        output.writeFieldBegin('divide_by_zero', T.STRUCT, 1);
        writeStruct(output, 'DivideByZero', [[1, T.STRING, 'npm: division by zero']]);
        output.writeFieldEnd();
        output.writeFieldStop();
        output.writeStructEnd();
        output.writeMessageEnd();
      } else reply([[0, T.DOUBLE, (args.get(1) as number) / b]]);
    } else if (fname === 'echo') reply([[0, T.STRING, args.get(1) as Buffer]]);
    else {
      const x = new lib.Thrift.TApplicationException(1, `Unknown function ${fname}`);
      output.writeMessageBegin(fname, M.EXCEPTION, rseqid);
      x.write(output);
      output.writeMessageEnd();
    }
    (output as unknown as { flush(): void }).flush();
  }
}

function options(variant: string): { transport: TransportCtor; protocol: ProtocolCtor } {
  const [encoding, transport] = variant.split('-');
  return {
    protocol: encoding === 'compact' ? lib.TCompactProtocol : lib.TBinaryProtocol,
    transport: transport === 'framed' ? lib.TFramedTransport : lib.TBufferedTransport,
  };
}

/** Fails after `ms` instead of letting a lost reply hang the test. */
function within<T>(p: Promise<T>, ms = 2_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

for (const variant of thrift.variants) {
  describe(`thrift interop with the npm thrift package [${variant}]`, () => {
    let server: RunningServer | undefined;
    let conn: NpmConnection | undefined;
    const connErrors: Error[] = [];
    before(async () => {
      server = await thrift.serve(calculatorContract, calculator, { port: 0, variant });
    });
    after(async () => {
      conn?.end();
      await server?.close();
    });

    it('its client against our server: values, declared exceptions, UNKNOWN_METHOD', async () => {
      conn = lib.createConnection('127.0.0.1', server!.port, { ...options(variant), connect_timeout: 2_000 });
      conn.on('error', (err) => connErrors.push(err));
      const client = lib.createClient(NpmCalculatorClient, conn);
      assert.equal(
        await within(
          client.call('add', [
            [1, T.I32, 2],
            [2, T.I32, 5],
          ]),
        ),
        7,
      );
      assert.equal(
        await within(
          client.call('divide', [
            [1, T.DOUBLE, 1],
            [2, T.DOUBLE, 4],
          ]),
        ),
        0.25,
      );
      await assert.rejects(
        within(
          client.call('divide', [
            [1, T.DOUBLE, 1],
            [2, T.DOUBLE, 0],
          ]),
        ),
        { message: 'division by zero' },
      );
      await assert.rejects(
        within(
          client.call('add', [
            [1, T.I32, 2 ** 31 - 1],
            [2, T.I32, 1],
          ]),
        ),
        { message: /out of the 32-bit integer range/ },
      );
      const data = Buffer.from(Array.from({ length: 70_000 }, (_, i) => i % 251));
      assert.deepEqual(await within(client.call('echo', [[1, T.STRING, data]])), data);
      await assert.rejects(within(client.call('multiply', [[1, T.I32, 2]])), (err: TAppException) => {
        assert.equal(err.type, 1); // UNKNOWN_METHOD
        assert.match(err.message, /multiply/);
        return true;
      });
      assert.deepEqual(connErrors, []);
    });

    it('its TMultiplexedProtocol client ("Calculator:add") against our server', async () => {
      const mconn = lib.createConnection('127.0.0.1', server!.port, {
        ...options(variant),
        connect_timeout: 2_000,
      });
      const errors: Error[] = [];
      mconn.on('error', (err) => errors.push(err));
      try {
        const client = new lib.Multiplexer().createClient('Calculator', NpmCalculatorClient, mconn);
        assert.equal(
          await within(
            client.call('add', [
              [1, T.I32, 40],
              [2, T.I32, 2],
            ]),
          ),
          42,
        );
        await assert.rejects(
          within(
            client.call('divide', [
              [1, T.DOUBLE, 1],
              [2, T.DOUBLE, 0],
            ]),
          ),
          { message: 'division by zero' },
        );
        // A service the server does not serve is UNKNOWN_METHOD naming it.
        const other = new lib.Multiplexer().createClient('Other', NpmCalculatorClient, mconn);
        await assert.rejects(
          within(
            other.call('add', [
              [1, T.I32, 1],
              [2, T.I32, 1],
            ]),
          ),
          (err: TAppException) => {
            assert.equal(err.type, 1);
            assert.match(err.message, /Other/);
            return true;
          },
        );
        assert.deepEqual(errors, []);
      } finally {
        mconn.end();
      }
    });

    it('our client against its server', async () => {
      const npmServer = lib.createServer(NpmCalculatorProcessor, {}, options(variant));
      npmServer.on('error', () => undefined);
      await new Promise<void>((resolve) => {
        npmServer.once('listening', resolve);
        npmServer.listen(0, '127.0.0.1');
      });
      const c = await thrift.connect(calculatorContract, {
        port: npmServer.address().port,
        variant,
        timeoutMs: 2_000,
      });
      try {
        assert.equal(await c.add(2, 5), 7);
        assert.equal(await c.divide(1, 4), 0.25);
        await assert.rejects(c.divide(1, 0), (err: unknown) => {
          assert.ok(err instanceof DivideByZeroError);
          assert.equal(err.message, 'npm: division by zero');
          return true;
        });
        const data = new Uint8Array(Array.from({ length: 70_000 }, (_, i) => i % 251));
        assert.deepEqual(new Uint8Array(await c.echo(data)), data);
        const many = await Promise.all(Array.from({ length: 20 }, (_, i) => c.add(i, i)));
        assert.deepEqual(
          many,
          Array.from({ length: 20 }, (_, i) => 2 * i),
        );
        await assert.rejects(c.add(2 ** 31, 0), InvalidArgumentError);
      } finally {
        await c.close();
        await new Promise<void>((resolve) => npmServer.close(() => resolve()));
      }
    });
  });
}
