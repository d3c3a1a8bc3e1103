-- The plugin's own logic against a scripted in-process LSP server (no model, a few seconds):
--
--   INFILL_WORKDIR=/tmp/ws nvim --headless --clean -S editor-extension/neovim/tests/unit.lua
--
-- Like e2e.lua it runs as a coroutine resumed from timers, so keys go through real insert mode
-- and autocmds. The server speaks utf-16 positions here (the real one takes utf-8 from Neovim),
-- to check the conversions. Exits 0 on success; prints why and exits 1 on failure.

local started = vim.uv.hrtime()
local function log(...)
  local parts = {}
  for i = 1, select('#', ...) do
    parts[#parts + 1] = tostring((select(i, ...)))
  end
  io.stderr:write(
    ('[unit %5.2fs] %s\n'):format((vim.uv.hrtime() - started) / 1e9, table.concat(parts, ' '))
  )
end

local here = debug.getinfo(1, 'S').source:sub(2)
local plugin_dir = vim.fn.fnamemodify(here, ':p:h:h')
local workdir = os.getenv('INFILL_WORKDIR') or vim.fn.tempname()
vim.fn.mkdir(workdir, 'p')

local notes = {}
vim.notify = function(msg)
  notes[#notes + 1] = tostring(msg)
end

local step_name = 'start'
local function fail(message)
  error({ unit = ('step %q: %s'):format(step_name, message) })
end
local function eq(expected, got, what)
  if not vim.deep_equal(expected, got) then
    fail(('%s: expected %s, got %s'):format(what, vim.inspect(expected), vim.inspect(got)))
  end
end
local function ok(cond, what)
  if not cond then
    fail(what)
  end
end
local function step(name)
  step_name = name
  log('--', name)
end
local function sleep(ms)
  coroutine.yield(ms)
end
local function wait(cond, timeout_ms, what)
  local deadline = vim.uv.hrtime() + (timeout_ms or 3000) * 1e6
  while true do
    local value = cond()
    if value then
      return value
    end
    if vim.uv.hrtime() > deadline then
      fail('timed out waiting for ' .. what)
    end
    sleep(10)
  end
end
local function feed(keys)
  vim.api.nvim_feedkeys(vim.keycode(keys), 'm', false)
end

-- The scripted server ------------------------------------------------------------------------
local server = {
  received = {}, -- {method, params} of every request and notification, in order
  answers = {}, -- queue of inlineCompletion answers: {items = {...}, delay = ms}
  dispatchers = nil,
}

local function received(method)
  local out = {}
  for _, msg in ipairs(server.received) do
    if msg.method == method then
      out[#out + 1] = msg.params
    end
  end
  return out
end

--- The workspace/executeCommand params of `command`, in order.
local function commands(command)
  return vim.tbl_filter(function(params)
    return params.command == command
  end, received('workspace/executeCommand'))
end

-- infill/status's acceptance totals (lsp_server/services/acceptance.py, stats/summary.py)
local TOTALS = {
  shown = 40,
  accepted = 12,
  partial = 3,
  typedThrough = 5,
  rejected = 20,
  rate = 0.3,
  charsAccepted = 410,
  charsKept5m = 348,
  keptRate5m = 0.8488,
}
local ACCEPTANCE = {
  open = 0,
  session = {
    shown = 3,
    accepted = 1,
    partial = 0,
    typedThrough = 0,
    rejected = 2,
    rate = 0.3333,
    charsAccepted = 12,
    charsKept5m = 0,
    keptRate5m = vim.NIL,
  },
  enabled = true,
  path = '/cache/stats.sqlite3',
  fault = '',
  stored = TOTALS,
}

local handlers = {
  initialize = function(_, reply)
    reply(nil, {
      capabilities = {
        positionEncoding = 'utf-16',
        textDocumentSync = 2,
        inlineCompletionProvider = true,
        executeCommandProvider = {
          commands = { 'infill.fixFunction', 'infill.accepted', 'infill.deleteStats' },
        },
      },
      serverInfo = { name = 'fake-infill' },
    })
  end,
  shutdown = function(_, reply)
    reply(nil, vim.NIL)
  end,
  ['textDocument/inlineCompletion'] = function(_, reply)
    local answer = table.remove(server.answers, 1) or { items = {} }
    vim.defer_fn(function()
      reply(nil, { items = answer.items })
    end, answer.delay or 0)
  end,
  ['infill/status'] = function(_, reply)
    reply(nil, {
      state = 'ready',
      message = 'fake',
      model = {
        path = '/m.gguf',
        verified = true,
        source = 'test',
        dialect = 'qwen',
        nCtx = 4096,
        speculation = 'lookup',
        choice = { setting = 'auto', picked = '0.5b', reason = 'measuring the 1.5B in idle time' },
      },
      settings = { enable = true, maxTimeMs = 1500 },
      last = {},
      lastFix = {},
      totals = { requests = 0 },
      acceptance = ACCEPTANCE,
    })
  end,
  ['workspace/executeCommand'] = function(params, reply)
    if params.command == 'infill.accepted' then
      return reply(nil, { counted = true })
    elseif params.command == 'infill.deleteStats' then
      return reply(nil, { deleted = true, path = '/cache/stats.sqlite3' })
    end
    local target = params.arguments[1]
    -- Like the real server: compute, apply through workspace/applyEdit, answer.
    vim.defer_fn(function()
      local line = target.start[1]
      server.dispatchers.server_request('workspace/applyEdit', {
        label = 'Fix this function',
        edit = {
          changes = {
            [target.uri] = {
              {
                range = {
                  start = { line = line, character = 0 },
                  ['end'] = { line = line + 1, character = 0 },
                },
                newText = '    result = 0\n',
              },
            },
          },
        },
      })
      reply(nil, { applied = true, message = 'fixed by the fake' })
    end, 50)
  end,
}

local function fake_cmd(dispatchers)
  server.dispatchers = dispatchers
  local closing, next_id = false, 0
  local srv = {}
  function srv.request(method, params, callback)
    next_id = next_id + 1
    server.received[#server.received + 1] = { method = method, params = params, id = next_id }
    local handler = handlers[method]
    local function reply(err, result)
      callback(err, result)
    end
    if handler then
      vim.schedule(function()
        handler(params, reply)
      end)
    else
      vim.schedule(function()
        reply(nil, vim.NIL)
      end)
    end
    return true, next_id
  end
  function srv.notify(method, params)
    server.received[#server.received + 1] =
      { method = method, params = params, at = vim.uv.hrtime() / 1e6 }
    if method == 'initialized' then
      vim.schedule(function()
        dispatchers.notification('infill/statusChanged', { state = 'loading', message = '' })
        dispatchers.notification('infill/statusChanged', { state = 'ready', message = 'm' })
      end)
    elseif method == 'exit' then
      dispatchers.on_exit(0, 15)
    end
    return true
  end
  function srv.is_closing()
    return closing
  end
  function srv.terminate()
    closing = true
  end
  return srv
end

-- Helpers ------------------------------------------------------------------------------------
local function lines(bufnr)
  return vim.api.nvim_buf_get_lines(bufnr or 0, 0, -1, false)
end
local function marks(bufnr)
  return vim.api.nvim_buf_get_extmarks(
    bufnr or 0,
    require('infill.ghost').ns,
    0,
    -1,
    { details = true }
  )
end
local function insert_at(row, col_keys)
  -- Normal mode, then enter insert mode with keys (e.g. 'A', 'o').
  feed('<Esc>')
  sleep(20)
  vim.api.nvim_win_set_cursor(0, { row, 0 })
  feed(col_keys)
  wait(function()
    return vim.api.nvim_get_mode().mode == 'i'
  end, 2000, 'insert mode')
end
local function n_requests()
  return #received('textDocument/inlineCompletion')
end
local function item(text, range, id)
  local command = id
    and {
      title = 'accepted',
      command = 'infill.accepted',
      arguments = { { id = id, kind = 'full' } },
    }
  return { insertText = text, range = range, command = command }
end

local function main()
  local before
  step('setup')
  vim.opt.runtimepath:prepend(plugin_dir)
  vim.cmd.runtime('plugin/infill.lua')
  local infill = require('infill')
  local state = require('infill.state')
  local ghost = require('infill.ghost')
  infill.setup({
    cmd = fake_cmd,
    settings = { maxTimeMs = 900 },
    debounce_ms = 30,
    inline = 'extmark',
    keymaps = { accept = '<Tab>' },
  })
  ok(vim.lsp.config.infill, 'vim.lsp.config.infill is not set')
  eq({ '<Tab>', '<M-j>', '<C-]>', '<M-\\>' }, {
    state.opts.keymaps.accept,
    state.opts.keymaps.accept_line,
    state.opts.keymaps.dismiss,
    state.opts.keymaps.trigger,
  }, 'keymaps merged with defaults')

  step('a Python buffer starts the client; the status is pushed')
  local path = vim.fs.joinpath(workdir, 'unit.py')
  vim.fn.writefile({ 'name = "é"', 'def f():', '    ', '', 'x = 1' }, path)
  vim.cmd.edit(path)
  local bufnr = vim.api.nvim_get_current_buf()
  vim.bo[bufnr].expandtab, vim.bo[bufnr].softtabstop = false, 0 -- the python ftplugin's
  local client = wait(function()
    return state.client(bufnr)
  end, 5000, 'the client')
  wait(function()
    return infill.status() == 'infill: ready'
  end, 3000, 'status "infill: ready"')
  eq('utf-16', client.offset_encoding, 'negotiated encoding')
  local init = received('initialize')[1]
  eq({ infill = { maxTimeMs = 900 } }, init.initializationOptions, 'initializationOptions')
  ok(init.capabilities.textDocument.inlineCompletion, 'inlineCompletion capability not sent')
  eq(0, #received('workspace/didChangeConfiguration'), 'settings re-sent after initialized')

  step('the cursor rests: one infill/cursor, 150 ms after the last move, utf-16 position')
  sleep(200) -- whatever the attach scheduled
  local n_cursor = #received('infill/cursor')
  local moved_at = vim.uv.hrtime() / 1e6
  feed('0$') -- two moves, one rest: on the closing quote of `name = "é"`, byte 10, utf-16 9
  local sent = wait(function()
    local all = vim.tbl_filter(function(msg)
      return msg.method == 'infill/cursor'
    end, server.received)
    return #all > n_cursor and all[#all]
  end, 2000, 'infill/cursor')
  eq({
    textDocument = { uri = vim.uri_from_bufnr(bufnr) },
    position = { line = 0, character = 9 },
  }, sent.params, 'infill/cursor params')
  ok(sent.at - moved_at >= 140, ('sent after %d ms, not debounced'):format(sent.at - moved_at))
  sleep(250)
  eq(n_cursor + 1, #received('infill/cursor'), 'one notification per rest')

  step('leaving the buffer drops the pending infill/cursor')
  feed('0')
  sleep(20)
  vim.cmd.enew()
  sleep(250)
  eq(n_cursor + 1, #received('infill/cursor'), 'sent after BufLeave')
  vim.cmd.buffer(bufnr)
  feed('<Esc>')

  step('insert mode: one debounced request at the cursor (utf-16 position)')
  server.answers = { { items = { item(' + "!"', nil, 's-1') } } }
  insert_at(1, 'A') -- end of `name = "é"`: byte col 11, utf-16 col 10
  wait(function()
    return ghost.current(bufnr)
  end, 3000, 'the ghost text')
  eq(1, n_requests(), 'requests')
  local req = received('textDocument/inlineCompletion')[1]
  eq({ line = 0, character = 10 }, req.position, 'request position')
  eq(2, req.context.triggerKind, 'triggerKind (automatic)')
  local m = marks(bufnr)
  eq(1, #m, 'extmarks')
  eq({ 0, 11 }, { m[1][2], m[1][3] }, 'extmark position (bytes)')
  eq({ { ' + "!"', 'InfillSuggestion' } }, m[1][4].virt_text, 'virt_text')
  eq('inline', m[1][4].virt_text_pos, 'virt_text_pos')

  step('typing what the suggestion starts with shrinks it, without a new request')
  feed(' +')
  wait(function()
    local cur = ghost.current(bufnr)
    return cur and cur.text == ' "!"'
  end, 2000, 'the suggestion to shrink')
  sleep(80)
  eq(1, n_requests(), 'requests after typing through')
  eq({ 0, 13 }, { marks(bufnr)[1][2], marks(bufnr)[1][3] }, 'extmark moved with the cursor')

  step('<Tab> accepts; the cursor goes to the end')
  feed('<Tab>')
  wait(function()
    return lines(bufnr)[1] == 'name = "é" + "!"'
  end, 2000, 'the accepted text')
  eq({ 1, #'name = "é" + "!"' }, vim.api.nvim_win_get_cursor(0), 'cursor')
  eq('i', vim.api.nvim_get_mode().mode, 'mode after accept')
  wait(function()
    return #commands('infill.accepted') == 1
  end, 2000, 'infill.accepted')
  eq({ { id = 's-1', kind = 'full' } }, commands('infill.accepted')[1].arguments, 'full accept')

  step('<Tab> without a suggestion inserts a Tab')
  server.answers = {}
  wait(function()
    return n_requests() == 2
  end, 2000, 'the request after accepting') -- answered with no items
  sleep(50)
  ok(not ghost.current(bufnr), 'unexpected suggestion')
  feed('<Tab>')
  wait(function()
    return lines(bufnr)[1] == 'name = "é" + "!"\t'
  end, 2000, 'a literal Tab')

  step('a stale answer is dropped, and its request cancelled')
  sleep(100)
  before = n_requests()
  server.answers = { { items = { item('STALE') }, delay = 300 }, { items = { item('FRESH') } } }
  feed('z')
  wait(function()
    return n_requests() == before + 1
  end, 2000, 'the first request')
  feed('y') -- the buffer changes while the first answer is on its way
  wait(function()
    return n_requests() == before + 2
  end, 2000, 'the second request')
  local cancels = received('$/cancelRequest')
  ok(#cancels >= 1, 'no $/cancelRequest sent')
  wait(function()
    return ghost.current(bufnr)
  end, 2000, 'the fresh suggestion')
  sleep(400) -- the stale answer arrives now
  eq('FRESH', ghost.current(bufnr).text, 'shown suggestion')

  step('<C-]> dismisses')
  feed('<C-]>')
  wait(function()
    return not ghost.current(bufnr) and #marks(bufnr) == 0
  end, 2000, 'no ghost text')

  step('multi-line: virt_lines; <M-j> accepts a line at a time (partial accepts, in characters)')
  server.answers = { { items = { item('return "é"\n    # two\n    return 2', nil, 's-ml') } } }
  insert_at(3, 'A')
  wait(function()
    return ghost.current(bufnr)
  end, 2000, 'the multi-line suggestion')
  m = marks(bufnr)
  eq({ { 'return "é"', 'InfillSuggestion' } }, m[1][4].virt_text, 'first line')
  eq({
    { { '    # two', 'InfillSuggestion' } },
    { { '    return 2', 'InfillSuggestion' } },
  }, m[1][4].virt_lines, 'other lines')
  feed('<M-j>')
  wait(function()
    return lines(bufnr)[3] == '    return "é"'
  end, 2000, 'the first line accepted')
  eq('\n    # two\n    return 2', ghost.current(bufnr).text, 'rest still shown')
  feed('<M-j>')
  wait(function()
    return lines(bufnr)[4] == '    # two'
  end, 2000, 'the next line accepted')
  eq({ 4, 9 }, vim.api.nvim_win_get_cursor(0), 'cursor after the second line')
  ok(infill.accept(), 'accept() found nothing')
  eq(
    { '    return "é"', '    # two', '    return 2', '', 'x = 1' },
    vim.list_slice(lines(bufnr), 3),
    'all'
  )
  wait(function()
    return #commands('infill.accepted') == 4
  end, 2000, 'the accept commands')
  eq({
    { { id = 's-ml', kind = 'line', length = 10 } }, -- `return "é"`: 10 characters, 11 bytes
    { { id = 's-ml', kind = 'line', length = 10 } }, -- `\n    # two`
    { { id = 's-ml', kind = 'full' } }, -- the rest: the item's own command
  }, {
    commands('infill.accepted')[2].arguments,
    commands('infill.accepted')[3].arguments,
    commands('infill.accepted')[4].arguments,
  }, 'partial accepts, then the full accept')

  step('a range that includes the typed prefix (replaced on accept)')
  feed('<Esc>')
  sleep(20)
  vim.api.nvim_buf_set_lines(bufnr, 5, 6, false, { 'x = 1 + ab' })
  local range = {
    start = { line = 5, character = 8 },
    ['end'] = { line = 5, character = 10 },
  }
  server.answers = { { items = { item('abs(y)', range) } } }
  insert_at(6, 'A')
  wait(function()
    return ghost.current(bufnr)
  end, 2000, 'the ranged suggestion')
  eq({ { 's(y)', 'InfillSuggestion' } }, marks(bufnr)[1][4].virt_text, 'shown part')
  before = n_requests()
  ok(infill.accept(), 'accept() found nothing')
  eq('x = 1 + abs(y)', lines(bufnr)[6], 'ranged accept')
  wait(function()
    return n_requests() == before + 1
  end, 2000, 'the automatic request after accepting')
  sleep(50)

  step('leaving insert mode clears; the trigger key asks at once (invoked)')
  server.answers = { { items = { item('  # note') } } }
  feed('<M-\\>')
  wait(function()
    return ghost.current(bufnr)
  end, 2000, 'the invoked suggestion')
  eq(1, received('textDocument/inlineCompletion')[n_requests()].context.triggerKind, 'invoked')
  feed('<Esc>')
  wait(function()
    return #marks(bufnr) == 0
  end, 2000, 'the ghost text cleared')

  step(':InfillToggle: didChangeConfiguration, no requests while off')
  vim.cmd('InfillToggle')
  eq(
    { settings = { infill = { enable = false } } },
    received('workspace/didChangeConfiguration')[1],
    'sent'
  )
  eq('infill: off', infill.status(), 'status off')
  before = n_requests()
  insert_at(5, 'o')
  feed('abc')
  local n_cursor_off = #received('infill/cursor')
  sleep(250)
  eq(before, n_requests(), 'requests while off')
  eq(n_cursor_off, #received('infill/cursor'), 'infill/cursor while off')
  feed('<Esc>')
  vim.cmd('InfillToggle')
  eq(true, received('workspace/didChangeConfiguration')[2].settings.infill.enable, 'on again')
  eq(true, client.settings.infill.enable, 'client.settings follow')

  step(':InfillFix [test]: one argument {uri, start, test}; the edit is applied')
  vim.api.nvim_buf_set_lines(bufnr, 0, -1, false, {
    'def total(numbers):',
    '    """é"""',
    '    result = 1',
    '    return result',
  })
  vim.api.nvim_win_set_cursor(0, { 3, 8 })
  vim.cmd('InfillFix tests/test_total.py::test_empty')
  eq('infill: fixing', infill.status(), 'status while fixing')
  wait(function()
    return lines(bufnr)[3] == '    result = 0'
  end, 3000, 'the fix applied')
  wait(function()
    return not state.fixing[client.id]
  end, 2000, 'the fix to end')
  local cmd = commands('infill.fixFunction')[1]
  eq('infill.fixFunction', cmd.command, 'command')
  eq({
    {
      uri = vim.uri_from_bufnr(bufnr),
      start = { 2, 8 },
      test = 'tests/test_total.py::test_empty',
    },
  }, cmd.arguments, 'arguments')
  ok(notes[#notes]:find('fixed by the fake', 1, true), 'message not shown: ' .. notes[#notes])

  step(':InfillFixWith {instruction}')
  vim.api.nvim_win_set_cursor(0, { 2, 9 }) -- after the é: byte 9, utf-16 column 8
  vim.cmd('InfillFixWith handle empty lists')
  wait(function()
    return #commands('infill.fixFunction') == 2 and not state.fixing[client.id]
  end, 3000, 'the second fix')
  eq({
    { uri = vim.uri_from_bufnr(bufnr), start = { 1, 8 }, instruction = 'handle empty lists' },
  }, commands('infill.fixFunction')[2].arguments, 'arguments with instruction')

  step(':checkhealth infill')
  vim.cmd('checkhealth infill')
  local report = table.concat(lines(0), '\n')
  ok(report:find('model state: ready', 1, true), 'no ready in:\n' .. report)
  ok(not report:find('ERROR', 1, true), 'error in:\n' .. report)
  vim.cmd('tabclose')

  step(':InfillStatus says which model serves, why, and what drafts')
  local echoed = {}
  local echo = vim.api.nvim_echo
  vim.api.nvim_echo = function(chunks, ...)
    for _, chunk in ipairs(chunks) do
      echoed[#echoed + 1] = chunk[1]
    end
    return echo(chunks, ...)
  end
  vim.cmd('InfillStatus')
  wait(function()
    return #echoed > 0
  end, 3000, ':InfillStatus to echo')
  vim.api.nvim_echo = echo
  local shown = table.concat(echoed)
  ok(
    shown:find('why this model: measuring the 1.5B in idle time\n', 1, true),
    'no reason in:\n' .. shown
  )
  ok(shown:find('speculation: lookup\n', 1, true), 'no speculation in:\n' .. shown)
  local expected_acceptance = 'acceptance, this session: accepted 1 of 3 (33%), 0 partly, 0 typed'
    .. ' through, 2 rejected; 12 characters accepted\nacceptance, all sessions'
    .. ' (/cache/stats.sqlite3): accepted 12 of 40 (30%), 3 partly, 5 typed through, 20 rejected;'
    .. ' 410 characters accepted, kept 85% after 5 min\n'
  ok(shown:find(expected_acceptance, 1, true), 'no acceptance totals in:\n' .. shown)

  step('acceptance lines: stats off, a fault, an old server')
  local acceptance = require('infill.acceptance')
  eq({
    'acceptance, this session: accepted 1 of 3 (33%), 0 partly, 0 typed through, 2 rejected;'
      .. ' 12 characters accepted',
    'acceptance statistics: not stored (setting stats = false)',
  }, acceptance.lines(vim.tbl_extend('force', ACCEPTANCE, { enabled = false })), 'stats off')
  eq(
    'acceptance statistics: the file is locked',
    acceptance.lines(vim.tbl_extend('force', ACCEPTANCE, { fault = 'the file is locked' }))[2],
    'fault'
  )
  eq({}, acceptance.lines(nil), 'no acceptance')
  eq(
    1,
    #acceptance.lines(vim.tbl_extend('force', ACCEPTANCE, { stored = { shown = 0 } })),
    'no line for a stats file with nothing yet'
  )
  eq(
    'accepted 0 of 0, 0 partly, 0 typed through, 0 rejected; 0 characters accepted',
    acceptance.text({}),
    'nothing shown yet'
  )
  eq(
    nil,
    acceptance.partial({ command = 'other.cmd', arguments = { { id = 'x' } } }, 'line', 'a'),
    'other'
  )
  eq(nil, acceptance.partial(nil, 'line', 'a'), 'no command')

  step(':InfillDeleteStats! sends infill.deleteStats and says so')
  vim.cmd('InfillDeleteStats!')
  wait(function()
    return #commands('infill.deleteStats') == 1
  end, 2000, 'infill.deleteStats')
  wait(function()
    return notes[#notes]:find('acceptance statistics deleted (/cache/stats.sqlite3)', 1, true)
  end, 2000, 'the message')

  step('a file under another project root shares the one server')
  local other = vim.fs.joinpath(workdir, 'other')
  vim.fn.mkdir(other, 'p')
  vim.fn.writefile({}, vim.fs.joinpath(other, 'pyproject.toml'))
  vim.fn.writefile({ 'y = 2' }, vim.fs.joinpath(other, 'b.py'))
  vim.cmd.edit(vim.fs.joinpath(other, 'b.py'))
  local second = wait(function()
    return state.client(0)
  end, 5000, 'the client in the second buffer')
  eq(client.id, second.id, 'client of the second project')
  eq(1, #state.clients(), 'running infill clients')

  step('setup() again replaces the config (lists are not merged)')
  infill.setup({ cmd = { 'infill-lsp' }, filetypes = { 'go' }, autostart = false })
  eq({ 'infill-lsp' }, vim.lsp.config.infill.cmd, 'cmd')
  eq({ 'go' }, vim.lsp.config.infill.filetypes, 'filetypes')
  local okk, err = pcall(infill.setup, { inline = 'bogus' })
  ok(not okk and tostring(err):find('inline must be'), 'bad option accepted: ' .. tostring(err))
end

local co = coroutine.create(main)
local function resume()
  local ok_, delay = coroutine.resume(co)
  if not ok_ then
    local message = type(delay) == 'table' and delay.unit or debug.traceback(co, tostring(delay))
    io.stderr:write('UNIT FAILED: ' .. tostring(message) .. '\n')
    vim.cmd('cquit 1')
    return
  end
  if coroutine.status(co) == 'dead' then
    io.stderr:write('UNIT PASSED\n')
    vim.cmd('qall!')
    return
  end
  vim.defer_fn(resume, delay or 0)
end
vim.defer_fn(function()
  io.stderr:write(('UNIT FAILED: step %q: no result after 60s\n'):format(step_name))
  vim.cmd('cquit 2')
end, 60000)
vim.schedule(resume)
