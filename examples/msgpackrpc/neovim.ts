/**
 * Calls Neovim's API over msgpack-rpc: start Neovim with
 *   nvim --headless --listen 127.0.0.1:6666
 * then this prints nvim_eval("1+2") = 3 and the API level Neovim reports.
 * Run: npx tsx examples/msgpackrpc/neovim.ts [port]
 */
import { defineContract } from '../../src/contract/index.js';
import { connectMsgpackRpc } from '../../src/protocols/msgpackrpc/index.js';

const port = process.argv[2] === undefined ? 6666 : Number(process.argv[2]);
const nvim = defineContract({
  name: 'Nvim',
  namespace: 'nvim',
  methods: {
    nvim_eval: { params: [{ name: 'expr', type: 'string' }], result: 'dynamic' },
    nvim_get_api_info: { params: [], result: 'dynamic' },
  },
});
const client = await connectMsgpackRpc(nvim, { port, timeoutMs: 10_000 });
try {
  console.log(`nvim_eval("1+2") = ${String(await client.nvim_eval('1+2'))}`);
  const [channel, info] = (await client.nvim_get_api_info()) as [number, { version: { api_level: number } }];
  console.log(`channel ${channel}, API level ${info.version.api_level}`);
} finally {
  await client.close();
}
