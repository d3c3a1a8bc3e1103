--- Shared state: the options in force, the server's pushed status per client, client lookup.
local M = {}

M.NAME = 'infill' -- the vim.lsp.config name, and the client's name
M.STATUS_CHANGED = 'infill/statusChanged'
M.STATUS = 'infill/status'

---@type table? the options of the last setup() call (nil before it)
M.opts = nil
--- Completions on/off (:InfillToggle), mirrored to the server's `enable` setting.
M.enabled = true
---@type table<integer, {state: string, message: string, model: table?}>
M.status = {}
--- Fix requests in flight: client_id -> function name or true.
M.fixing = {}

--- The infill client attached to `bufnr` (0 = current), or nil.
---@param bufnr integer?
---@return vim.lsp.Client?
function M.client(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  return vim.lsp.get_clients({ bufnr = bufnr, name = M.NAME })[1]
end

--- Per-buffer work ends with its buffer: `detach(bufnr)` on BufUnload / BufWipeout, in `group`.
---@param group integer
---@param bufnr integer
---@param detach fun(bufnr: integer)
function M.on_buffer_gone(group, bufnr, detach)
  vim.api.nvim_create_autocmd({ 'BufUnload', 'BufWipeout' }, {
    group = group,
    buffer = bufnr,
    callback = function(args)
      detach(args.buf)
    end,
  })
end

--- Stop a libuv timer and free it (nil: nothing to do).
---@param timer uv.uv_timer_t?
function M.close_timer(timer)
  if timer then
    timer:stop()
    if not timer:is_closing() then
      timer:close()
    end
  end
end

--- Every running infill client.
---@return vim.lsp.Client[]
function M.clients()
  return vim.lsp.get_clients({ name = M.NAME })
end

--- `infill/statusChanged` notification handler: {state, message, model}.
---@param params table
---@param ctx table
function M.on_status_changed(_, params, ctx)
  if type(params) ~= 'table' or not ctx or not ctx.client_id then
    return
  end
  local model = params.model
  M.status[ctx.client_id] = {
    state = tostring(params.state or 'unknown'),
    message = type(params.message) == 'string' and params.message or '',
    model = type(model) == 'table' and model or nil,
  }
  vim.schedule(function()
    vim.api.nvim_exec_autocmds('User', {
      pattern = 'InfillStatusChanged',
      modeline = false,
      data = vim.tbl_extend('force', { client_id = ctx.client_id }, M.status[ctx.client_id]),
    })
    pcall(vim.cmd.redrawstatus, { bang = true })
  end)
end

return M
