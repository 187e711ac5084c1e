/**
 * `rpclab interop`: each protocol against the survey's Python library, both directions —
 * the survey's own server and client scripts, then the fuller peers (divide by zero, 1 MiB echo).
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { calculator, calculatorContract } from '../../contract/calculator.js';
import { freePort } from '../../net/free-port.js';
import { neovimPath, runNeovimClient, startNeovim } from '../../peers/neovim.js';
import { peerScript, peersInstalled, runPythonScript, startPythonPeer } from '../../peers/python.js';
import { type Protocol, protocols } from '../../protocols/index.js';
import type { Command } from '../command.js';
import { formatError, renderTable } from '../format.js';
import { protocolNamed } from '../options.js';
import { capnpChecks } from './interop-capnp.js';
import { soapChecks } from './interop-soap.js';

export interface InteropCheck {
  protocol: string;
  direction: 'python→ts' | 'ts→python' | 'neovim→ts' | 'ts→neovim' | 'node→ts';
  peer: string;
  ok: boolean;
  detail: string;
}

const TIMEOUT_MS = 15_000;

async function withPeerServer(
  protocol: Protocol,
  script: string,
  body: (port: number) => Promise<string>,
): Promise<{ ok: boolean; detail: string }> {
  const port = await freePort();
  let peer: Awaited<ReturnType<typeof startPythonPeer>> | undefined;
  try {
    peer = await startPythonPeer(peerScript(protocol.name, script), port);
    return { ok: true, detail: await body(port) };
  } catch (err) {
    return { ok: false, detail: formatError(err).split('\n')[0]! };
  } finally {
    await peer?.stop();
  }
}

async function withOurServer(
  protocol: Protocol,
  script: string,
  check: (stdout: string) => string,
): Promise<{ ok: boolean; detail: string }> {
  const server = await protocol.serve(calculatorContract, calculator, { port: 0 });
  try {
    const run = await runPythonScript(peerScript(protocol.name, script), [String(server.port)], {
      timeoutMs: 60_000,
    });
    if (run.code !== 0) {
      const last = run.stderr.trim().split('\n').pop() ?? '';
      return { ok: false, detail: `exit ${run.code}: ${last}` };
    }
    return { ok: true, detail: check(run.stdout) };
  } catch (err) {
    return { ok: false, detail: formatError(err) };
  } finally {
    await server.close();
  }
}

export async function interopProtocol(protocol: Protocol): Promise<InteropCheck[]> {
  const checks: InteropCheck[] = [];
  const push = (direction: InteropCheck['direction'], peer: string, r: { ok: boolean; detail: string }) =>
    checks.push({ protocol: protocol.name, direction, peer, ...r });

  if (existsSync(peerScript(protocol.name, 'server.py'))) {
    push(
      'ts→python',
      'server.py (survey)',
      await withPeerServer(protocol, 'server.py', async (port) => {
        const client = await protocol.connect(calculatorContract, { port, timeoutMs: TIMEOUT_MS });
        try {
          const sum = await client.add(2, 5);
          if (sum !== 7) throw new Error(`add(2, 5) returned ${sum}`);
          return 'add(2, 5) = 7';
        } finally {
          await client.close();
        }
      }),
    );
  }
  if (existsSync(peerScript(protocol.name, 'client.py'))) {
    push(
      'python→ts',
      'client.py (survey)',
      await withOurServer(protocol, 'client.py', (stdout) => {
        if (!/(^|\D)7(\D|$)/.test(stdout)) throw new Error(`printed ${JSON.stringify(stdout.trim())}`);
        return `printed ${stdout.trim().split('\n').pop()}`;
      }),
    );
  }
  if (existsSync(peerScript(protocol.name, 'full_server.py'))) {
    push(
      'ts→python',
      'full_server.py',
      await withPeerServer(protocol, 'full_server.py', async (port) => {
        const client = await protocol.connect(calculatorContract, { port, timeoutMs: TIMEOUT_MS });
        try {
          if ((await client.add(2, 5)) !== 7) throw new Error('add(2, 5) != 7');
          let raised = 'nothing';
          try {
            await client.divide(1, 0);
          } catch (err) {
            raised = formatError(err);
          }
          if (!raised.includes('DIVIDE_BY_ZERO')) throw new Error(`divide(1, 0) raised ${raised}`);
          const payload = new Uint8Array(randomBytes(1024 * 1024));
          const back = await client.echo(payload);
          if (!Buffer.from(back).equals(Buffer.from(payload))) throw new Error('1 MiB echo differs');
          return `add ok; divide(1, 0) → ${raised.split(':')[0]}; 1 MiB echo ok`;
        } finally {
          await client.close();
        }
      }),
    );
  }
  if (existsSync(peerScript(protocol.name, 'full_client.py'))) {
    push(
      'python→ts',
      'full_client.py',
      await withOurServer(protocol, 'full_client.py', (stdout) => {
        const line = stdout.trim().split('\n').pop() ?? '';
        const report = JSON.parse(line) as { add?: unknown; divide_by_zero?: unknown; echo_ok?: unknown };
        // capnp's full client reports add twice (two calls on one bootstrap capability).
        const adds = Array.isArray(report.add) ? (report.add as unknown[]) : [report.add];
        if (adds.length === 0 || adds.some((v) => v !== 7)) throw new Error(`add = ${String(report.add)}`);
        if (report.echo_ok !== true) throw new Error('1 MiB echo differs');
        if (typeof report.divide_by_zero !== 'string' || report.divide_by_zero === '') {
          throw new Error('divide(1, 0) raised nothing');
        }
        const extra = report as { pipelined_adder?: unknown; callback?: unknown; callback_calls?: unknown };
        if (protocol.name === 'capnp') {
          if (extra.pipelined_adder !== 12)
            throw new Error(`pipelined adder = ${String(extra.pipelined_adder)}`);
          if (extra.callback !== 30 || extra.callback_calls !== 1)
            throw new Error('the callback was not called back');
          return `add ×2 ok; divide(1, 0) → ${report.divide_by_zero}; 1 MiB echo ok; pipelined adder 12; callback 30`;
        }
        return `add ok; divide(1, 0) → ${report.divide_by_zero}; 1 MiB echo ok`;
      }),
    );
  }
  if (protocol.name === 'capnp') checks.push(...(await capnpChecks()));
  if (protocol.name === 'msgpackrpc') checks.push(...(await neovimChecks(protocol)));
  if (protocol.name === 'soap') checks.push(...(await soapChecks(protocol)));
  return checks;
}

/** msgpack-rpc's second peer, Neovim, both directions (see peers/python/msgpackrpc/neovim_client.lua). */
async function neovimChecks(protocol: Protocol): Promise<InteropCheck[]> {
  const check = (direction: InteropCheck['direction'], peer: string, r: { ok: boolean; detail: string }) => ({
    protocol: protocol.name,
    direction,
    peer,
    ...r,
  });
  if (neovimPath() === undefined) {
    const missing = { ok: false, detail: 'nvim not installed (bash scripts/setup-peers.sh)' };
    return [check('ts→neovim', 'nvim --listen', missing), check('neovim→ts', 'nvim sockconnect', missing)];
  }
  const evalContract = {
    name: 'Nvim',
    namespace: 'nvim',
    methods: { nvim_eval: { params: [{ name: 'expr', type: 'string' }], result: 'dynamic' } },
  } as const;
  const toNeovim = await (async () => {
    let nvim: Awaited<ReturnType<typeof startNeovim>> | undefined;
    try {
      nvim = await startNeovim(await freePort());
      const client = await protocol.connect(evalContract, { port: nvim.port, timeoutMs: TIMEOUT_MS });
      try {
        const three = await client.nvim_eval('1+2');
        if (three !== 3) throw new Error(`nvim_eval("1+2") returned ${String(three)}`);
        return { ok: true, detail: 'nvim_eval("1+2") = 3' };
      } finally {
        await client.close();
      }
    } catch (err) {
      return { ok: false, detail: formatError(err).split('\n')[0]! };
    } finally {
      await nvim?.stop();
    }
  })();
  const fromNeovim = await (async () => {
    const server = await protocol.serve(calculatorContract, calculator, { port: 0 });
    try {
      const report = await runNeovimClient(`127.0.0.1:${server.port}`);
      if (report.add !== 7)
        throw new Error(`rpcrequest(chan, 'add', 2, 5) gave ${JSON.stringify(report.add ?? report)}`);
      return { ok: true, detail: "rpcrequest(chan, 'add', 2, 5) = 7" };
    } catch (err) {
      return { ok: false, detail: formatError(err).split('\n')[0]! };
    } finally {
      await server.close();
    }
  })();
  return [check('ts→neovim', 'nvim --listen', toNeovim), check('neovim→ts', 'nvim sockconnect', fromNeovim)];
}

export const interopCommand: Command = {
  name: 'interop',
  summary: "check every protocol against the survey's Python library, both directions",
  usage: `usage: rpclab interop [options]

For each protocol with peers under peers/python/<protocol>/: our client against the survey's
Python server (server.py) and its fuller peer (full_server.py), and the survey's Python
client (client.py) and fuller client (full_client.py) against our server; for msgpackrpc,
Neovim both ways too; for capnp, a pipelined chained call and a callback; for soap, SOAP 1.2 both ways and the node-soap and strong-soap clients.
Needs the peers' virtual environments: bash scripts/setup-peers.sh

options:
  --protocols a,b     only these protocols
  --json              print the checks as JSON

exit code: 0 when every check passes, 1 otherwise.`,
  async run(argv) {
    const { values } = parseArgs({
      args: [...argv],
      options: { protocols: { type: 'string' }, json: { type: 'boolean', default: false } },
    });
    if (!peersInstalled()) {
      console.error('rpclab interop: the Python peers are not installed; run: bash scripts/setup-peers.sh');
      return 2;
    }
    const chosen = values.protocols
      ? values.protocols.split(',').map((n) => protocolNamed(n.trim()))
      : protocols;
    const checks: InteropCheck[] = [];
    for (const protocol of chosen) {
      if (!values.json) process.stderr.write(`rpclab interop: ${protocol.name}…\n`);
      const found = await interopProtocol(protocol);
      if (found.length === 0) {
        checks.push({
          protocol: protocol.name,
          direction: 'ts→python',
          peer: '-',
          ok: false,
          detail: 'no Python peers',
        });
      }
      checks.push(...found);
    }
    if (values.json) {
      console.log(JSON.stringify(checks, null, 2));
    } else {
      console.log(
        renderTable(
          ['protocol', 'direction', 'peer', 'result'],
          checks.map((c) => [c.protocol, c.direction, c.peer, `${c.ok ? 'ok' : 'FAILED'}: ${c.detail}`]),
        ),
      );
    }
    return checks.length > 0 && checks.every((c) => c.ok) ? 0 : 1;
  },
};
