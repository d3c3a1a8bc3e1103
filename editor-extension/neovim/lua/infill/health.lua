--- :checkhealth infill
local config = require('infill.config')
local state = require('infill.state')

local health = vim.health
local M = {}

local function check_neovim()
  health.start('infill: Neovim')
  local v = vim.version()
  local version = ('%d.%d.%d'):format(v.major, v.minor, v.patch)
  if vim.fn.has('nvim-0.11') == 1 then
    health.ok('Neovim ' .. version .. ' (0.11+ has vim.lsp.config / vim.lsp.enable)')
  else
    health.error('Neovim ' .. version .. ' is too old', { 'infill needs Neovim 0.11 or newer' })
    return false
  end
  local backend = require('infill.inline').backend()
  if require('infill.native').available() then
    health.ok('vim.lsp.inline_completion found (0.12+): ' .. (backend or 'off') .. ' ghost text')
  else
    health.ok('no vim.lsp.inline_completion (before 0.12): the plugin draws the ghost text')
  end
  if not state.opts then
    health.warn(
      "require('infill').setup() has not been called",
      { "call require('infill').setup({...}) in your config" }
    )
  end
  return true
end

--- The interpreter of a Python console script (its #! line), or nil.
local function shebang_python(path)
  local fh = io.open(path, 'r')
  if not fh then
    return nil
  end
  local first = fh:read('*l') or ''
  fh:close()
  local interpreter = first:match('^#!%s*(%S+python[%d.]*)%s*$')
  if interpreter and vim.fn.executable(interpreter) == 1 then
    return interpreter
  end
  return nil
end

local function run(argv, timeout_ms)
  local ok, proc = pcall(vim.system, argv, { text = true })
  if not ok then
    return nil, tostring(proc)
  end
  local result = proc:wait(timeout_ms)
  return result, nil
end

local function check_command(opts)
  health.start('infill: server command')
  local cmd = opts.cmd
  if type(cmd) == 'function' then
    health.info('cmd is a function (an RPC client factory): not checked')
    return
  end
  local program = cmd[1]
  local path = vim.fn.exepath(program)
  if path == '' then
    health.error(('server command not found: %s'):format(table.concat(cmd, ' ')), {
      'pip install infill-lsp (puts `infill-lsp` on PATH), or',
      "setup({ cmd = { '/path/to/.venv/bin/python', '-m', 'lsp_server' } })",
    })
    return
  end
  health.ok(('server command: %s (%s)'):format(table.concat(cmd, ' '), path))

  -- Which Python runs the server: `python -m module`, or the #! line of a console script.
  local python, module = nil, 'lsp_server'
  for i = 2, #cmd - 1 do
    if cmd[i] == '-m' then
      python, module = path, cmd[i + 1]
    end
  end
  python = python or shebang_python(path)
  if not python then
    local result = run({ path, '--version' }, 20000)
    if result and result.code == 0 then
      health.ok('server runs: ' .. vim.trim(result.stdout or ''))
    else
      health.error(
        '`' .. program .. ' --version` failed: ' .. vim.trim(result and result.stderr or '')
      )
    end
    return
  end
  local probe = ('import %s, llama_cpp; print(getattr(%s, "__version__", "?"))'):format(
    module,
    module
  )
  local result, err = run({ python, '-c', probe }, 30000)
  if result and result.code == 0 then
    health.ok(
      ('Python module %s %s and llama_cpp import (%s)'):format(
        module,
        vim.trim(result.stdout or ''),
        python
      )
    )
  else
    local why = err or vim.trim(result and (result.stderr or '') or 'timed out')
    health.error(
      ('cannot import %s with %s'):format(module, python),
      { why:sub(-400), 'install the server into that environment: pip install infill-lsp' }
    )
  end
end

local function check_server(opts)
  health.start('infill: server and model')
  local clients = state.clients()
  if #clients == 0 then
    health.info(
      'no infill server running: it starts with a buffer of one of `filetypes`: '
        .. table.concat(opts.filetypes, ', ')
    )
    health.info(
      'settings sent at start: ' .. vim.inspect(opts.settings, { newline = ' ', indent = '' })
    )
    return
  end
  local client = state.client() or clients[1]
  local answer = client:request_sync(state.STATUS, vim.empty_dict(), 5000, 0)
  local status = answer and answer.result
  if type(status) ~= 'table' then
    health.error(
      'infill/status got no answer'
        .. (answer and answer.err and (': ' .. tostring(answer.err.message)) or ''),
      { 'see :LspLog' }
    )
    return
  end
  health.info(('server: client %d, offset encoding %s'):format(client.id, client.offset_encoding))
  local st = status.state
  local message = (status.message and status.message ~= '') and (' (' .. status.message .. ')')
    or ''
  if st == 'ready' then
    health.ok('model state: ready' .. message)
  elseif st == 'loading' or st == 'starting' then
    health.warn(
      'model state: ' .. st .. message,
      { 'the model is still loading; try again shortly' }
    )
  elseif st == 'disabled' then
    health.warn('model state: disabled', { ':InfillEnable (or settings.enable = true)' })
  else
    health.error('model state: ' .. tostring(st) .. message, {
      'check settings.modelPath, or run `infill-lsp model` in a shell',
    })
  end
  local model = status.model
  if type(model) == 'table' then
    local line = ('model: %s (%s, dialect %s, context %s)'):format(
      tostring(model.path),
      tostring(model.source),
      tostring(model.dialect),
      tostring(model.nCtx)
    )
    if model.verified then
      health.ok(line .. ', checksum verified')
    else
      health.warn(line .. ', checksum not verified', { 'a user-supplied model is not verified' })
    end
  end
  if type(status.settings) == 'table' then
    health.info('effective settings:')
    for key, value in vim.spairs(status.settings) do
      health.info(('%s = %s'):format(key, vim.inspect(value, { newline = ' ', indent = '' })))
    end
  end
end

function M.check()
  if not check_neovim() then
    return
  end
  local opts = state.opts or config.resolve({})
  check_command(opts)
  check_server(opts)
end

return M
