--- "Fix this function": workspace/executeCommand infill.fixFunction for the function under the
--- cursor. The server computes the fix (seconds, with $/progress) and applies it through
--- workspace/applyEdit, which Neovim handles; it answers {applied, message}.
local state = require('infill.state')

local M = {}

M.COMMAND = 'infill.fixFunction'
M.TITLE = 'Fix this function'

local function notify(message, level)
  vim.notify('infill: ' .. message, level or vim.log.levels.INFO)
end

--- Echo the server's progress messages while a fix runs (LspProgress of an infill client).
local progress_group = vim.api.nvim_create_augroup('infill.fix.progress', { clear = true })
vim.api.nvim_create_autocmd('LspProgress', {
  group = progress_group,
  callback = function(args)
    local data = args.data or {}
    if not state.fixing[data.client_id] or not (state.opts or {}).fix_progress then
      return
    end
    local value = data.params and data.params.value or {}
    local text = value.message or value.title
    if type(text) == 'string' and text ~= '' then
      local pct = value.percentage and (' %d%%'):format(value.percentage) or ''
      vim.api.nvim_echo({ { 'infill: ' .. text .. pct } }, false, {})
    end
  end,
})

---@class infill.FixOpts
---@field bufnr? integer (default: current)
---@field instruction? string what to do ("handle empty lists"); optional
---@field test? string a failing pytest node id (tests/test_x.py::test_y); optional
---@field on_done? fun(result: {applied: boolean, message: string}?, err: table?)

--- Fix the function under the cursor of the current window.
---@param opts infill.FixOpts?
---@return boolean sent
function M.fix(opts)
  opts = opts or {}
  local bufnr = (opts.bufnr == nil or opts.bufnr == 0) and vim.api.nvim_get_current_buf()
    or opts.bufnr
  local client = state.client(bufnr)
  if not client then
    notify(
      'no infill server is attached to this buffer (see :checkhealth infill)',
      vim.log.levels.WARN
    )
    return false
  end
  local params = vim.lsp.util.make_position_params(0, client.offset_encoding)
  local target = {
    uri = params.textDocument.uri,
    start = { params.position.line, params.position.character },
  }
  if opts.instruction and opts.instruction ~= '' then
    target.instruction = opts.instruction
  end
  if opts.test and opts.test ~= '' then
    target.test = opts.test
  end
  local started = vim.uv.hrtime()
  state.fixing[client.id] = true
  pcall(vim.cmd.redrawstatus, { bang = true })
  notify('fixing the function under the cursor...')
  local ok = client:request(
    'workspace/executeCommand',
    { command = M.COMMAND, arguments = { target } },
    function(err, result)
      state.fixing[client.id] = nil
      pcall(vim.cmd.redrawstatus, { bang = true })
      local seconds = (vim.uv.hrtime() - started) / 1e9
      if err then
        notify(('fix failed: %s'):format(err.message or vim.inspect(err)), vim.log.levels.ERROR)
      elseif type(result) == 'table' then
        local message = tostring(result.message or '')
        local level = result.applied and vim.log.levels.INFO or vim.log.levels.WARN
        notify(('%s (%.1fs)'):format(message ~= '' and message or 'done', seconds), level)
      end
      if opts.on_done then
        opts.on_done(type(result) == 'table' and result or nil, err)
      end
    end,
    bufnr
  )
  if not ok then
    state.fixing[client.id] = nil
    notify('the infill server is not running', vim.log.levels.ERROR)
  end
  return ok and true or false
end

--- The standard code action route: the server's "Fix this function" action, resolved lazily
--- (codeAction/resolve) and applied by Neovim.
function M.code_action()
  vim.lsp.buf.code_action({
    apply = true,
    filter = function(action)
      return action.title == M.TITLE
    end,
  })
end

return M
