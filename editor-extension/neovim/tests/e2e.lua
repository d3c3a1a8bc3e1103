-- End-to-end test of the plugin in a real Neovim against the REAL server and model.
--
--   INFILL_PYTHON=/path/.venv/bin/python INFILL_WORKDIR=/tmp/ws \
--     nvim --headless --clean -S editor-extension/neovim/tests/e2e.lua
--
-- Runs as a coroutine resumed from timers, so Neovim's main loop runs between steps: keys go
-- through real insert mode, autocmds (TextChangedI, CursorMovedI, InsertLeave) and LSP traffic
-- happen as in a user's session. Exits 0 on success; on failure prints why and exits 1.
-- INFILL_E2E_SKIP_ACTION=1 skips the code-action route (a second fix).

local started = vim.uv.hrtime()
local function elapsed()
  return (vim.uv.hrtime() - started) / 1e9
end
local function log(...)
  local parts = {}
  for i = 1, select('#', ...) do
    parts[#parts + 1] = tostring((select(i, ...)))
  end
  io.stderr:write(('[e2e %6.1fs] %s\n'):format(elapsed(), table.concat(parts, ' ')))
  io.stderr:flush()
end

local here = debug.getinfo(1, 'S').source:sub(2)
local plugin_dir = vim.fn.fnamemodify(here, ':p:h:h')
local python = assert(os.getenv('INFILL_PYTHON'), 'set INFILL_PYTHON to the server Python')
local workdir = assert(os.getenv('INFILL_WORKDIR'), 'set INFILL_WORKDIR to the fixture folder')
local ready_timeout = tonumber(os.getenv('INFILL_READY_TIMEOUT_S') or '300') * 1000
local TOTAL_TIMEOUT_S = tonumber(os.getenv('INFILL_E2E_TIMEOUT_S') or '1200')

-- Everything vim.notify says (the plugin's messages, the server's window/showMessage).
local notes = {}
vim.notify = function(msg, level)
  notes[#notes + 1] = tostring(msg)
  log('notify[' .. tostring(level) .. ']:', msg)
end

local step_name = 'start'
local function fail(message)
  error({ e2e = ('step %q: %s'):format(step_name, message) })
end
local function expect(cond, message)
  if not cond then
    fail(message)
  end
end
local function step(name)
  step_name = name
  log('--', name)
end

local function sleep(ms)
  coroutine.yield(ms)
end

--- Poll `cond` (yielding to the main loop) until it returns a truthy value.
local function wait(cond, timeout_ms, what)
  local deadline = vim.uv.hrtime() + timeout_ms * 1e6
  while true do
    local value = cond()
    if value then
      return value
    end
    if vim.uv.hrtime() > deadline then
      fail(('timed out after %.0fs waiting for %s'):format(timeout_ms / 1000, what))
    end
    sleep(50)
  end
end

local function buf_text(bufnr)
  return table.concat(vim.api.nvim_buf_get_lines(bufnr, 0, -1, false), '\n')
end

local function find_line(bufnr, pattern)
  for i, line in ipairs(vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)) do
    if line:find(pattern) then
      return i
    end
  end
end

local function feed(keys)
  vim.api.nvim_feedkeys(vim.keycode(keys), 'm', false)
end

local function ghost_marks(bufnr)
  local ns = require('infill.ghost').ns
  return vim.api.nvim_buf_get_extmarks(bufnr, ns, 0, -1, { details = true })
end

local function main()
  step('setup')
  vim.opt.runtimepath:prepend(plugin_dir)
  vim.cmd.runtime('plugin/infill.lua')
  local infill = require('infill')
  infill.setup({
    cmd = { python, '-m', 'lsp_server' },
    -- Answers that do not depend on the machine's speed, so that a loaded machine (other
    -- tests, other model processes) is slower but gets the same answers: no time cap on a
    -- suggestion (a capped one is cut to whole lines, or empty); no prefetch competing with
    -- the fix for the model; the fix greedy, one candidate, and a time budget far above the
    -- ~5 s it takes on an idle 2-core machine (the one-line rewrites that find this bug get
    -- half of it).
    settings = { maxTimeMs = 0, prefetch = false, fixCandidates = 1, fixBudgetMs = 300000 },
    debounce_ms = 100,
  })
  local state = require('infill.state')
  expect(vim.fn.exists(':InfillFix') == 2, ':InfillFix is not defined')

  step('open a Python file: the server starts')
  vim.cmd.edit(vim.fs.joinpath(workdir, 'sample.py'))
  local bufnr = vim.api.nvim_get_current_buf()
  expect(vim.bo.filetype == 'python', 'filetype is ' .. vim.bo.filetype)
  local client = wait(function()
    return state.client(bufnr)
  end, 30000, 'the infill client to attach')
  log('client', client.id, 'offset encoding', client.offset_encoding)

  step('wait for the model (infill/statusChanged)')
  wait(function()
    local st = state.status[client.id]
    if st and st.state == 'error' then
      fail('server reported error: ' .. st.message)
    end
    return st and st.state == 'ready'
  end, ready_timeout, 'state "ready"')
  expect(infill.status(bufnr) == 'infill: ready', 'status() = ' .. infill.status(bufnr))
  local function session_acceptance()
    local st = infill.server_status(bufnr, 5000)
    local acceptance = type(st) == 'table' and st.acceptance
    return type(acceptance) == 'table' and acceptance.session or nil
  end
  local before_acceptance = session_acceptance()
  expect(
    before_acceptance and before_acceptance.accepted == 0,
    'infill/status acceptance before any accept: ' .. vim.inspect(before_acceptance)
  )

  step('insert mode after the docstring: the autocmd asks, ghost text appears')
  local row = assert(find_line(bufnr, '^    $'), 'fixture has no blank indented line')
  local before = vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)
  vim.api.nvim_win_set_cursor(0, { row, 0 })
  feed('A') -- insert at the end of "    ": CursorMovedI -> debounce -> inlineCompletion
  wait(function()
    return vim.api.nvim_get_mode().mode == 'i'
  end, 5000, 'insert mode')
  local t0 = elapsed()
  local ok, item = pcall(wait, function()
    return require('infill.ghost').current(bufnr)
  end, 45000, 'a suggestion from the automatic request')
  if not ok then
    -- Not expected (the unit test covers the autocmd path); ask once more, as the trigger key
    -- does, so one slow or empty answer on a loaded machine does not fail the whole run.
    log(
      'no suggestion from the automatic request ('
        .. tostring(item.e2e or item)
        .. '); asking again'
    )
    expect(infill.trigger(), 'trigger() sent nothing')
    item = wait(function()
      return require('infill.ghost').current(bufnr)
    end, 60000, 'a suggestion (ghost text) after trigger()')
  end
  log(('suggestion after %.2fs: %q'):format(elapsed() - t0, item.text))
  local marks = ghost_marks(bufnr)
  expect(#marks == 1, ('expected 1 ghost extmark, found %d'):format(#marks))
  local details = marks[1][4]
  expect(marks[1][2] == row - 1 and marks[1][3] == 4, 'extmark not at the cursor')
  expect(details.virt_text or details.virt_lines, 'extmark has no virtual text')
  local shown = {}
  if details.virt_text then
    shown[#shown + 1] = details.virt_text[1][1]
  end
  for _, chunks in ipairs(details.virt_lines or {}) do
    shown[#shown + 1] = (chunks[1] or { '' })[1]
  end
  expect(
    table.concat(shown, '\n') == item.text:gsub('\t', string.rep(' ', vim.bo.tabstop)),
    'the extmark does not show the suggestion: ' .. vim.inspect(shown)
  )
  expect(item.text:find('return'), 'the suggestion has no return: ' .. item.text)

  step('accept with the keymap (<M-l>)')
  local suggestion = item.text
  feed('<M-l>')
  wait(function()
    return vim.api.nvim_buf_get_lines(bufnr, row - 1, row, false)[1] ~= '    '
  end, 5000, 'the buffer to change')
  local expected = vim.deepcopy(before)
  local inserted = vim.split('    ' .. suggestion, '\n', { plain = true })
  table.remove(expected, row)
  for i = #inserted, 1, -1 do
    table.insert(expected, row, inserted[i])
  end
  local got = vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)
  expect(
    table.concat(got, '\n') == table.concat(expected, '\n'),
    'buffer after accept:\n' .. table.concat(got, '\n')
  )
  local cur = vim.api.nvim_win_get_cursor(0)
  local end_row = row + #inserted - 1
  expect(
    cur[1] == end_row and cur[2] == #inserted[#inserted],
    ('cursor at %s, expected {%d, %d}'):format(vim.inspect(cur), end_row, #inserted[#inserted])
  )
  expect(vim.api.nvim_get_mode().mode == 'i', 'accepting left insert mode')

  step('the server counted the accept (the item command, workspace/executeCommand)')
  local counted = wait(function()
    local session = session_acceptance()
    return session and (session.accepted or 0) >= 1 and session
  end, 10000, 'infill/status acceptance.session.accepted >= 1')
  expect(counted.accepted == 1, 'accepted: ' .. vim.inspect(counted))
  expect(
    counted.charsAccepted == vim.fn.strchars(suggestion),
    ('charsAccepted %s, the suggestion has %d characters'):format(
      tostring(counted.charsAccepted),
      vim.fn.strchars(suggestion)
    )
  )
  log(
    ('acceptance: %d accepted of %d shown, %d characters'):format(
      counted.accepted,
      counted.shown,
      counted.charsAccepted
    )
  )

  step('leaving insert mode clears the ghost text')
  sleep(400) -- the next suggestion (prefetched by the server) may be shown meanwhile
  feed('<Esc>')
  wait(function()
    return vim.api.nvim_get_mode().mode == 'n'
  end, 5000, 'normal mode')
  sleep(300)
  expect(#ghost_marks(bufnr) == 0, 'ghost text left after InsertLeave')
  vim.cmd.write(vim.fs.joinpath(workdir, 'accepted.py'))

  step('the cursor rests in another file: infill/cursor, and the server warms up there')
  -- (the server warms only places away from the last request: its window is what the cache
  -- holds, so a rest a few lines away in this short file would rightly get no warm-up)
  local other = vim.fs.joinpath(workdir, 'other.py')
  local other_lines = { 'def area(w, h):', '    """The area of a w x h rectangle."""' }
  vim.list_extend(other_lines, { '    result = w * h', '    return result', '' })
  vim.fn.writefile(other_lines, other)
  vim.cmd.split(other)
  local other_buf = vim.api.nvim_get_current_buf()
  wait(function()
    return #vim.lsp.get_clients({ bufnr = other_buf, name = client.name }) > 0
  end, 10000, 'the client attached to other.py')
  vim.api.nvim_win_set_cursor(0, { 3, 4 })
  sleep(2000) -- the 150 ms debounce, then the server's idle time
  local warmup_deadline = vim.uv.hrtime() + 60000 * 1e6
  local totals
  while true do
    local status = infill.server_status(bufnr, 5000)
    totals = type(status) == 'table' and type(status.totals) == 'table' and status.totals or {}
    if (tonumber(totals.warmups) or 0) >= 1 then
      break
    end
    expect(
      vim.uv.hrtime() < warmup_deadline,
      'no warm-up (infill/status totals.warmups) within 60 s: ' .. vim.inspect(totals)
    )
    sleep(1000)
  end
  log(('warm-ups: %s started, %s done'):format(totals.warmups, tostring(totals.warmupsDone)))
  vim.cmd.close() -- back to the first file's window
  expect(vim.api.nvim_get_current_buf() == bufnr, 'not back in the first buffer')

  step(':InfillFix on the buggy function')
  local bug = assert(find_line(bufnr, 'result = 1'), 'no `result = 1` in the buffer')
  local buggy = vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)
  vim.api.nvim_win_set_cursor(0, { bug, 4 })
  local n_notes = #notes
  t0 = elapsed()
  vim.cmd('InfillFix')
  expect(state.fixing[client.id], 'no fix request in flight')
  expect(infill.status(bufnr) == 'infill: fixing', 'status() = ' .. infill.status(bufnr))
  wait(function()
    return not state.fixing[client.id]
  end, 400000, 'the fix to finish')
  local said = table.concat(vim.list_slice(notes, n_notes + 1), ' | ')
  log(('fix took %.1fs: %s'):format(elapsed() - t0, said))
  expect(find_line(bufnr, '^    result = 0$'), 'no `result = 0` after :InfillFix: ' .. said)
  expect(not find_line(bufnr, 'result = 1'), '`result = 1` still there: ' .. said)
  expect(vim.bo[bufnr].modified, 'the buffer is not modified')
  vim.cmd.write(vim.fs.joinpath(workdir, 'fixed.py'))

  if os.getenv('INFILL_E2E_SKIP_ACTION') ~= '1' then
    step('the "Fix this function" code action (codeAction/resolve)')
    vim.api.nvim_buf_set_lines(bufnr, 0, -1, false, buggy)
    vim.api.nvim_win_set_cursor(0, { bug, 4 })
    t0 = elapsed()
    vim.cmd('InfillFixAction')
    wait(function()
      return find_line(bufnr, '^    result = 0$')
    end, 400000, '`result = 0` from the code action')
    log(('code action took %.1fs'):format(elapsed() - t0))
    expect(not find_line(bufnr, 'result = 1'), '`result = 1` still there after the action')
  end

  step(':InfillToggle sends enable=false, then true')
  vim.cmd('InfillToggle')
  expect(infill.status(bufnr) == 'infill: off', 'status() = ' .. infill.status(bufnr))
  wait(function()
    return state.status[client.id].state == 'disabled'
  end, 10000, 'the server to say "disabled"')
  vim.cmd('InfillToggle')
  wait(function()
    return state.status[client.id].state == 'ready'
  end, 10000, 'the server to say "ready" again')
  expect(infill.status(bufnr) == 'infill: ready', 'status() = ' .. infill.status(bufnr))

  step(':InfillStatus shows the acceptance totals')
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
  end, 5000, ':InfillStatus to echo')
  vim.api.nvim_echo = echo
  local status_text = table.concat(echoed)
  expect(
    status_text:find('acceptance, this session: accepted 1 of ', 1, true),
    'no acceptance totals in :InfillStatus:\n' .. status_text
  )

  step(":InfillDeleteStats! deletes the statistics (and this session's totals)")
  local n_before = #notes
  vim.cmd('InfillDeleteStats!')
  wait(function()
    for i = n_before + 1, #notes do
      if notes[i]:find('acceptance statistics deleted', 1, true) then
        return true
      end
    end
  end, 10000, 'the "deleted" message')
  local after_delete = session_acceptance()
  expect(
    after_delete and after_delete.accepted == 0,
    'acceptance after :InfillDeleteStats: ' .. vim.inspect(after_delete)
  )

  step(':checkhealth infill')
  vim.cmd('checkhealth infill')
  local report = buf_text(0)
  io.stderr:write(report .. '\n')
  expect(report:find('model state: ready', 1, true), 'checkhealth does not say ready')
  expect(report:find('checksum verified', 1, true), 'checkhealth does not show a verified model')
  expect(report:find('maxTimeMs', 1, true), 'checkhealth does not show the settings')
  for line in vim.gsplit(report, '\n') do
    expect(not line:find('ERROR'), 'checkhealth reports an error: ' .. line)
  end

  step('done')
end

--- What the server says it did (the last completion and fix, totals): for failure reports.
local function server_report()
  local ok, status = pcall(function()
    local client = require('infill.state').clients()[1]
    local answer = client and client:request_sync('infill/status', vim.empty_dict(), 5000, 0)
    return answer and answer.result
  end)
  if not ok or type(status) ~= 'table' then
    return '(no infill/status answer)'
  end
  return 'server status: '
    .. vim.inspect({
      state = status.state,
      message = status.message,
      last = status.last,
      lastFix = status.lastFix,
      totals = status.totals,
    })
end

local co = coroutine.create(main)
local function resume()
  local ok, delay = coroutine.resume(co)
  if not ok then
    local message = type(delay) == 'table' and delay.e2e or debug.traceback(co, tostring(delay))
    io.stderr:write('E2E FAILED: ' .. tostring(message) .. '\n' .. server_report() .. '\n')
    io.stderr:flush()
    vim.cmd('cquit 1')
    return
  end
  if coroutine.status(co) == 'dead' then
    io.stderr:write(('E2E PASSED in %.1fs\n'):format(elapsed()))
    io.stderr:flush()
    vim.cmd('qall!')
    return
  end
  vim.defer_fn(resume, delay or 0)
end

vim.defer_fn(function()
  io.stderr:write(('E2E FAILED: step %q: no result after %ds\n'):format(step_name, TOTAL_TIMEOUT_S))
  io.stderr:write(server_report() .. '\n')
  io.stderr:flush()
  vim.cmd('cquit 2')
end, TOTAL_TIMEOUT_S * 1000)
vim.schedule(resume)
