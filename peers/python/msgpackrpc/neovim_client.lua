-- Neovim as a msgpack-rpc client of rpclab's server: connects with
-- sockconnect('tcp', addr, {rpc = true}), calls the Calculator, sends a notification, and (when
-- the server offers ask_neovim) answers the server's call back into Neovim on the same channel.
-- Writes one JSON report to $RPCLAB_OUT and quits. Run by src/peers/neovim.ts:
--   RPCLAB_ADDR=127.0.0.1:7001 RPCLAB_OUT=report.json nvim --headless --clean -c 'luafile neovim_client.lua'
local addr = os.getenv('RPCLAB_ADDR') or '127.0.0.1:7001'
local out = os.getenv('RPCLAB_OUT') or 'report.json'
local report = {}

local function try(f, ...)
  local ok, result = pcall(f, ...)
  if ok then return result end
  return 'ERROR: ' .. tostring(result)
end

local ok, chan = pcall(vim.fn.sockconnect, 'tcp', addr, { rpc = true })
if not ok or chan == 0 then
  report.connect_error = tostring(chan)
else
  report.add = try(vim.fn.rpcrequest, chan, 'add', 2, 5)
  report.divide = try(vim.fn.rpcrequest, chan, 'divide', 1, 4)
  report.divide_by_zero = try(vim.fn.rpcrequest, chan, 'divide', 1, 0)
  report.unknown = try(vim.fn.rpcrequest, chan, 'multiply', 2, 3)
  local text = string.rep('rpclab ', 149797) -- 1 MiB less a few bytes of ASCII
  local back = try(vim.fn.rpcrequest, chan, 'echo', text)
  report.echo_ok = back == text
  report.echo_type = type(back)
  vim.fn.rpcnotify(chan, 'note', 'hello from neovim', 42)
  if os.getenv('RPCLAB_ASK') == '1' then
    -- The server calls nvim_eval on this channel while Neovim waits for this reply.
    report.ask = try(vim.fn.rpcrequest, chan, 'ask_neovim', '6*7')
  end
  report.after_note = try(vim.fn.rpcrequest, chan, 'add', 1, 1)
  vim.fn.chanclose(chan)
end

vim.fn.writefile({ vim.fn.json_encode(report) }, out)
vim.cmd('qa!')
