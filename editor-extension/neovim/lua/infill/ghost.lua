--- Ghost text for Neovim 0.11 (no vim.lsp.inline_completion): textDocument/inlineCompletion
--- requests on insert-mode changes (debounced, the previous one cancelled, stale answers
--- dropped), shown as extmarks (virt_text for the first line, virt_lines for the rest).
local acceptance = require('infill.acceptance')
local state = require('infill.state')

local api = vim.api
local M = {}

M.ns = api.nvim_create_namespace('infill.ghost')
local METHOD = 'textDocument/inlineCompletion'
local TRIGGER_INVOKED, TRIGGER_AUTOMATIC = 1, 2

---@class infill.Suggestion
---@field row integer 0-based row of the cursor when it was shown (the anchor)
---@field col integer byte column of the anchor
---@field text string what is inserted at the anchor on accept (shown as ghost text)
---@field end_row integer the answer's range end: text from the anchor to here is replaced
---@field end_col integer
---@field snippet boolean insertText was a snippet (accepted with vim.snippet.expand)
---@field command table? run after accepting (an LSP Command: the server's `infill.accepted`)
---@field client_id integer
---@field tick integer b:changedtick when shown (or last typed through)
---@field before string the anchor row's text before the anchor when shown
---@field extmark integer?

---@class infill.BufState
---@field timer uv.uv_timer_t?
---@field seq integer
---@field pending {client_id: integer, id: integer}?
---@field item infill.Suggestion?
---@field scheduled string? position key of the debounced request
---@field augroup integer

---@type table<integer, infill.BufState>
local bufs = {}

local function in_insert_mode()
  local mode = api.nvim_get_mode().mode
  return mode:sub(1, 1) == 'i'
end

local function cursor(win)
  local pos = api.nvim_win_get_cursor(win or 0)
  return pos[1] - 1, pos[2]
end

local function line_text(bufnr, row)
  return api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1]
end

--- LSP position -> byte column, in the client's negotiated encoding.
local function byte_col(bufnr, position, encoding)
  local line = line_text(bufnr, position.line) or ''
  if encoding == 'utf-8' then
    return math.min(position.character, #line)
  end
  local ok, col = pcall(vim.str_byteindex, line, encoding or 'utf-16', position.character, false)
  return ok and math.min(col, #line) or #line
end

local function hide(bufnr, st)
  if st.item and st.item.extmark then
    pcall(api.nvim_buf_del_extmark, bufnr, M.ns, st.item.extmark)
  end
  st.item = nil
end

local function cancel(st)
  if st.timer then
    st.timer:stop()
  end
  st.scheduled = nil
  local pending = st.pending
  st.pending = nil
  st.seq = st.seq + 1 -- whatever is still in flight is stale now
  if pending then
    local client = vim.lsp.get_client_by_id(pending.client_id)
    if client and not client:is_stopped() then
      client:cancel_request(pending.id)
    end
  end
end

local function expand_tabs(s)
  if not s:find('\t', 1, true) then
    return s
  end
  local ts = vim.bo.tabstop > 0 and vim.bo.tabstop or 8
  return (s:gsub('\t', string.rep(' ', ts)))
end

local function hl()
  return 'InfillSuggestion'
end

--- Draw `item.text` at its anchor.
local function render(bufnr, item)
  local lines = vim.split(item.text, '\n', { plain = true })
  local opts = { hl_mode = 'combine', priority = 200 }
  if lines[1] ~= '' then
    opts.virt_text = { { lines[1], hl() } }
    opts.virt_text_pos = 'inline'
  end
  if #lines > 1 then
    opts.virt_lines = {}
    for i = 2, #lines do
      opts.virt_lines[#opts.virt_lines + 1] = { { expand_tabs(lines[i]), hl() } }
    end
  end
  if item.extmark then
    opts.id = item.extmark
  end
  item.extmark = api.nvim_buf_set_extmark(bufnr, M.ns, item.row, item.col, opts)
end

--- An answer item -> a suggestion anchored at the cursor, or nil when it does not fit there.
---@return infill.Suggestion?
local function normalise(bufnr, client, raw, row, col)
  local insert = raw.insertText
  local snippet = false
  if type(insert) == 'table' then
    snippet, insert = true, insert.value
  end
  if type(insert) ~= 'string' or insert == '' then
    return nil
  end
  insert = insert:gsub('\r\n', '\n')
  local line = line_text(bufnr, row) or ''
  local end_row, end_col = row, col
  if type(raw.range) == 'table' then
    local s, e = raw.range.start, raw.range['end']
    local start_col = byte_col(bufnr, s, client.offset_encoding)
    if s.line ~= row or start_col > col then
      return nil -- a range that does not start at or before the cursor on its line
    end
    -- The range may include what was typed before the cursor: show only the rest.
    local typed = line:sub(start_col + 1, col)
    if insert:sub(1, #typed) ~= typed then
      return nil
    end
    insert = insert:sub(#typed + 1)
    end_row, end_col = e.line, byte_col(bufnr, e, client.offset_encoding)
    if end_row < row or (end_row == row and end_col < col) then
      end_row, end_col = row, col
    end
  end
  if insert == '' then
    return nil
  end
  return {
    row = row,
    col = col,
    text = insert,
    end_row = end_row,
    end_col = end_col,
    snippet = snippet,
    command = raw.command,
    client_id = client.id,
    tick = api.nvim_buf_get_changedtick(bufnr),
    before = line:sub(1, col),
  }
end

local function get(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and api.nvim_get_current_buf() or bufnr
  return bufnr, bufs[bufnr]
end

--- Send the request for the cursor in the current window now (the debounce calls this).
---@param bufnr integer?
---@param invoked boolean? the user asked explicitly (trigger key)
---@return boolean sent
function M.request(bufnr, invoked)
  local st
  bufnr, st = get(bufnr)
  if not st or not state.enabled or api.nvim_get_current_buf() ~= bufnr then
    return false
  end
  if not in_insert_mode() then
    return false
  end
  local opts = state.opts or {}
  if not invoked and opts.hide_during_completion and vim.fn.pumvisible() == 1 then
    return false
  end
  local client = state.client(bufnr)
  if not client then
    return false
  end
  cancel(st)
  local seq = st.seq
  local tick = api.nvim_buf_get_changedtick(bufnr)
  local row, col = cursor()
  local params = vim.lsp.util.make_position_params(0, client.offset_encoding)
  ---@diagnostic disable-next-line: inject-field
  params.context = { triggerKind = invoked and TRIGGER_INVOKED or TRIGGER_AUTOMATIC }
  local ok, id = client:request(METHOD, params, function(err, result)
    if st.seq ~= seq then
      return -- superseded or cancelled
    end
    st.pending = nil
    if err or type(result) ~= 'table' then
      return
    end
    -- Stale: the buffer changed, the cursor moved, or insert mode was left meanwhile.
    if
      not api.nvim_buf_is_valid(bufnr)
      or api.nvim_buf_get_changedtick(bufnr) ~= tick
      or api.nvim_get_current_buf() ~= bufnr
      or not in_insert_mode()
      or not state.enabled
    then
      return
    end
    local r, c = cursor()
    if r ~= row or c ~= col then
      return
    end
    for _, raw in ipairs(result.items or result) do
      local item = type(raw) == 'table' and normalise(bufnr, client, raw, row, col)
      if item then
        hide(bufnr, st)
        st.item = item
        render(bufnr, item)
        api.nvim_exec_autocmds('User', {
          pattern = 'InfillSuggestionShown',
          modeline = false,
          data = { bufnr = bufnr, text = item.text },
        })
        return
      end
    end
  end, bufnr)
  if ok and id then
    st.pending = { client_id = client.id, id = id }
  end
  return ok and true or false
end

--- The suggestion now shown in `bufnr`, or nil.
---@param bufnr integer?
---@return infill.Suggestion?
function M.current(bufnr)
  local _, st = get(bufnr)
  return st and st.item or nil
end

--- Typed text that matches the start of the suggestion: shrink it instead of asking again.
local function type_through(bufnr, st, row, col)
  local item = st.item
  if not item or row ~= item.row or col <= item.col then
    return false
  end
  local line = line_text(bufnr, row) or ''
  if line:sub(1, item.col) ~= item.before then
    return false
  end
  local typed = line:sub(item.col + 1, col)
  if typed == '' or #typed >= #item.text or item.text:sub(1, #typed) ~= typed then
    return false
  end
  item.text = item.text:sub(#typed + 1)
  if item.end_row == item.row then
    item.end_col = item.end_col + #typed
  end
  item.col, item.before = col, line:sub(1, col)
  item.tick = api.nvim_buf_get_changedtick(bufnr)
  render(bufnr, item)
  return true
end

--- TextChangedI / CursorMovedI: keep, shrink or drop the suggestion, and (re)schedule a request.
---@param bufnr integer
function M.on_change(bufnr)
  local st = bufs[bufnr]
  if not st or not state.enabled or api.nvim_get_current_buf() ~= bufnr then
    return
  end
  local row, col = cursor()
  local tick = api.nvim_buf_get_changedtick(bufnr)
  local item = st.item
  if item and item.row == row and item.col == col and item.tick == tick then
    return -- nothing moved (e.g. the events that follow a partial accept)
  end
  if type_through(bufnr, st, row, col) then
    return
  end
  local key = ('%d:%d:%d'):format(tick, row, col)
  if st.scheduled == key then
    return -- CursorMovedI and TextChangedI of the same keystroke
  end
  hide(bufnr, st)
  cancel(st)
  st.scheduled = key
  local delay = (state.opts and state.opts.debounce_ms) or 150
  st.timer = st.timer or vim.uv.new_timer()
  st.timer:start(
    delay,
    0,
    vim.schedule_wrap(function()
      if bufs[bufnr] ~= st or st.scheduled ~= key then
        return
      end
      st.scheduled = nil
      M.request(bufnr, false)
    end)
  )
end

--- Drop the suggestion and whatever is pending.
---@param bufnr integer?
---@return boolean had_suggestion
function M.dismiss(bufnr)
  local st
  bufnr, st = get(bufnr)
  if not st then
    return false
  end
  local had = st.item ~= nil
  hide(bufnr, st)
  cancel(st)
  return had
end

--- Insert `text` at the suggestion's anchor, replacing up to (end_row, end_col) when given;
--- put the cursor after it. Returns the cursor's new 0-based row and byte column.
local function insert(bufnr, row, col, end_row, end_col, text)
  local last = line_text(bufnr, end_row)
  if not last then
    end_row, end_col = row, col
  else
    end_col = math.min(end_col, #last)
  end
  local lines = vim.split(text, '\n', { plain = true })
  api.nvim_buf_set_text(bufnr, row, col, end_row, end_col, lines)
  local new_row = row + #lines - 1
  local new_col = (#lines == 1 and col or 0) + #lines[#lines]
  local win = api.nvim_get_current_buf() == bufnr and 0 or vim.fn.bufwinid(bufnr)
  if win ~= -1 then
    api.nvim_win_set_cursor(win, { new_row + 1, new_col })
  end
  return new_row, new_col
end

--- Accept the whole suggestion: insert it (replacing its range) and move the cursor to its end.
---@param bufnr integer?
---@return boolean accepted
function M.accept(bufnr)
  local st
  bufnr, st = get(bufnr)
  local item = st and st.item
  if not item then
    return false
  end
  hide(bufnr, st)
  cancel(st)
  if item.snippet then
    api.nvim_buf_set_text(bufnr, item.row, item.col, item.end_row, item.end_col, { '' })
    api.nvim_win_set_cursor(0, { item.row + 1, item.col })
    vim.snippet.expand(item.text)
  else
    insert(bufnr, item.row, item.col, item.end_row, item.end_col, item.text)
  end
  -- The server counts the accept from this command (workspace/executeCommand).
  acceptance.run(item.client_id, bufnr, item.command)
  return true
end

--- Accept up to the end of the suggestion's current line (or its next line when the rest of
--- the current one is empty); the remainder stays shown. The server hears of it as a partial
--- accept (`infill.accepted` kind 'line' with the characters inserted); the last line is a
--- full accept.
---@param bufnr integer?
---@return boolean accepted
function M.accept_line(bufnr)
  local st
  bufnr, st = get(bufnr)
  local item = st and st.item
  if not item then
    return false
  end
  local stop = item.text:find('\n', item.text:sub(1, 1) == '\n' and 2 or 1, true)
  if not stop or item.snippet then
    return M.accept(bufnr)
  end
  local part, rest = item.text:sub(1, stop - 1), item.text:sub(stop)
  cancel(st)
  local same_row = item.end_row == item.row
  local row, col = insert(bufnr, item.row, item.col, item.row, item.col, part)
  if same_row then
    item.end_row, item.end_col = row, item.end_col - item.col + col
  end
  item.row, item.col, item.text = row, col, rest
  item.before = (line_text(bufnr, row) or ''):sub(1, col)
  item.tick = api.nvim_buf_get_changedtick(bufnr)
  render(bufnr, item)
  acceptance.run(item.client_id, bufnr, acceptance.partial(item.command, 'line', part))
  return true
end

--- Start handling `bufnr` (LspAttach of the infill client).
---@param bufnr integer
function M.attach(bufnr)
  if bufs[bufnr] then
    return
  end
  local group = api.nvim_create_augroup('infill.ghost.' .. bufnr, { clear = true })
  bufs[bufnr] = { seq = 0, augroup = group }
  api.nvim_create_autocmd({ 'TextChangedI', 'CursorMovedI' }, {
    group = group,
    buffer = bufnr,
    desc = 'infill: request a suggestion (debounced)',
    callback = function(args)
      M.on_change(args.buf)
    end,
  })
  api.nvim_create_autocmd({ 'InsertLeave', 'BufLeave' }, {
    group = group,
    buffer = bufnr,
    desc = 'infill: clear the suggestion',
    callback = function(args)
      M.dismiss(args.buf)
    end,
  })
  state.on_buffer_gone(group, bufnr, function(buf)
    M.detach(buf)
  end)
end

--- Stop handling `bufnr`.
---@param bufnr integer
function M.detach(bufnr)
  local st = bufs[bufnr]
  if not st then
    return
  end
  M.dismiss(bufnr)
  state.close_timer(st.timer)
  pcall(api.nvim_del_augroup_by_id, st.augroup)
  pcall(api.nvim_buf_clear_namespace, bufnr, M.ns, 0, -1)
  bufs[bufnr] = nil
end

--- Completions were turned off: clear every buffer.
function M.clear_all()
  for bufnr in pairs(bufs) do
    M.dismiss(bufnr)
  end
end

---@param bufnr integer
---@return boolean
function M.attached(bufnr)
  return bufs[bufnr] ~= nil
end

return M
