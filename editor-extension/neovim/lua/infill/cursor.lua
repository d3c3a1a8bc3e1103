--- Tells the server where the cursor rests: the `infill/cursor` notification
--- {textDocument = {uri}, position} (in the client's offset encoding), 150 ms after the last
--- CursorMoved / CursorMovedI in a buffer the infill client is attached to. The server then
--- evaluates the prompt for that place in idle time (a warm-up, cancelled by any real request),
--- so the first suggestion typed there comes sooner. Whatever the ghost text renderer.
local state = require('infill.state')

local api = vim.api
local M = {}

M.METHOD = 'infill/cursor'
M.DEBOUNCE_MS = 150

---@class infill.CursorState
---@field timer uv.uv_timer_t?
---@field augroup integer

---@type table<integer, infill.CursorState>
local bufs = {}

---@param st infill.CursorState
local function stop(st)
  if st.timer then
    st.timer:stop()
  end
end

--- Send `infill/cursor` for the cursor of the current window now (the debounce calls this).
---@param bufnr integer
---@return boolean sent
function M.send(bufnr)
  if not state.enabled or not bufs[bufnr] or api.nvim_get_current_buf() ~= bufnr then
    return false
  end
  local client = state.client(bufnr)
  if not client or client:is_stopped() then
    return false
  end
  local params = vim.lsp.util.make_position_params(0, client.offset_encoding)
  return client:notify(M.METHOD, {
    textDocument = { uri = params.textDocument.uri },
    position = params.position,
  }) == true
end

--- CursorMoved / CursorMovedI: (re)start the debounce.
---@param bufnr integer
function M.moved(bufnr)
  local st = bufs[bufnr]
  if not st or not state.enabled then
    return
  end
  st.timer = st.timer or vim.uv.new_timer()
  st.timer:stop()
  st.timer:start(
    M.DEBOUNCE_MS,
    0,
    vim.schedule_wrap(function()
      if bufs[bufnr] == st then
        M.send(bufnr)
      end
    end)
  )
end

--- Start reporting for `bufnr` (LspAttach of the infill client).
---@param bufnr integer
function M.attach(bufnr)
  if bufs[bufnr] then
    return
  end
  local group = api.nvim_create_augroup('infill.cursor.' .. bufnr, { clear = true })
  bufs[bufnr] = { augroup = group }
  api.nvim_create_autocmd({ 'CursorMoved', 'CursorMovedI' }, {
    group = group,
    buffer = bufnr,
    desc = 'infill: tell the server where the cursor rests (debounced)',
    callback = function(args)
      M.moved(args.buf)
    end,
  })
  api.nvim_create_autocmd('BufLeave', {
    group = group,
    buffer = bufnr,
    callback = function(args)
      M.cancel(args.buf)
    end,
  })
  state.on_buffer_gone(group, bufnr, function(buf)
    M.detach(buf)
  end)
  if api.nvim_get_current_buf() == bufnr then
    M.moved(bufnr) -- the cursor already rests somewhere
  end
end

--- Drop the pending notification of `bufnr`, if any.
---@param bufnr integer
function M.cancel(bufnr)
  local st = bufs[bufnr]
  if st then
    stop(st)
  end
end

--- Stop reporting for `bufnr` (LspDetach, buffer unloaded).
---@param bufnr integer
function M.detach(bufnr)
  local st = bufs[bufnr]
  if not st then
    return
  end
  state.close_timer(st.timer)
  pcall(api.nvim_del_augroup_by_id, st.augroup)
  bufs[bufnr] = nil
end

--- Completions were turned off: nothing pending anywhere.
function M.cancel_all()
  for _, st in pairs(bufs) do
    stop(st)
  end
end

---@param bufnr integer
---@return boolean
function M.attached(bufnr)
  return bufs[bufnr] ~= nil
end

return M
