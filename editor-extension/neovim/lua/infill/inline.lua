--- Inline completion front: picks the renderer (Neovim's own on 0.12+, else extmarks) and
--- maps the insert-mode keys, each falling back to the key itself when nothing is shown.
local ghost = require('infill.ghost')
local native = require('infill.native')
local state = require('infill.state')

local M = {}

--- 'native', 'extmark', or nil (inline completion off).
---@return string?
function M.backend()
  local mode = state.opts and state.opts.inline
  if mode == false then
    return nil
  end
  if mode ~= 'extmark' and native.available() then
    return 'native'
  end
  return 'extmark'
end

---@param bufnr integer?
---@return integer
local function buf(bufnr)
  return (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
end

--- Accept the whole suggestion. Returns false when none is shown.
---@param bufnr integer?
---@return boolean
function M.accept(bufnr)
  local backend = M.backend()
  if backend == 'native' then
    return native.accept(buf(bufnr))
  end
  return backend == 'extmark' and ghost.accept(buf(bufnr))
end

--- Accept the suggestion's current line (its next line when the current one is done).
---@param bufnr integer?
---@return boolean
function M.accept_line(bufnr)
  local backend = M.backend()
  if backend == 'native' then
    return native.accept_line(buf(bufnr))
  end
  return backend == 'extmark' and ghost.accept_line(buf(bufnr))
end

--- Hide the suggestion. Returns false when none was shown.
---@param bufnr integer?
---@return boolean
function M.dismiss(bufnr)
  local backend = M.backend()
  if backend == 'native' then
    return native.dismiss(buf(bufnr))
  end
  return backend == 'extmark' and ghost.dismiss(buf(bufnr))
end

--- Ask for a suggestion at the cursor now (extmark renderer; the native one asks by itself).
---@param bufnr integer?
---@return boolean sent
function M.trigger(bufnr)
  return M.backend() == 'extmark' and ghost.request(buf(bufnr), true)
end

--- The text of the suggestion shown by the extmark renderer (nil when none, or native).
---@param bufnr integer?
---@return string?
function M.suggestion(bufnr)
  local item = ghost.current(buf(bufnr))
  return item and item.text or nil
end

--- Expr mapping body: act (scheduled: expr mappings may not change the buffer) or give the key.
local function mapping(lhs, action, bufnr)
  return function()
    local backend = M.backend()
    if backend == 'native' then
      -- vim.lsp.inline_completion.get() schedules the edit itself and says if it will act.
      local acted = (action == 'accept' and native.accept(bufnr))
        or (action == 'accept_line' and native.accept_line(bufnr))
        or (action == 'dismiss' and native.dismiss(bufnr))
      return acted and '' or lhs
    end
    if backend ~= 'extmark' then
      return lhs
    end
    if action == 'trigger' then
      vim.schedule(function()
        ghost.request(bufnr, true)
      end)
      return ''
    end
    if not ghost.current(bufnr) then
      return lhs
    end
    vim.schedule(function()
      ghost[action](bufnr)
    end)
    return ''
  end
end

local DESCRIPTIONS = {
  accept = 'infill: accept the suggestion',
  accept_line = 'infill: accept a line of the suggestion',
  dismiss = 'infill: dismiss the suggestion',
  trigger = 'infill: ask for a suggestion now',
}

---@param bufnr integer
local function set_keymaps(bufnr)
  local keymaps = (state.opts and state.opts.keymaps) or {}
  for _, action in ipairs({ 'accept', 'accept_line', 'dismiss', 'trigger' }) do
    local lhs = keymaps[action]
    if lhs and not (action == 'trigger' and M.backend() == 'native') then
      vim.keymap.set('i', lhs, mapping(lhs, action, bufnr), {
        buffer = bufnr,
        expr = true,
        silent = true,
        desc = DESCRIPTIONS[action],
      })
    end
  end
end

--- LspAttach of an infill client.
---@param client vim.lsp.Client
---@param bufnr integer
function M.attach(client, bufnr)
  local backend = M.backend()
  if backend == 'native' then
    native.attach(client)
  elseif backend == 'extmark' then
    ghost.attach(bufnr)
  else
    return
  end
  set_keymaps(bufnr)
end

--- LspDetach of an infill client.
---@param bufnr integer
function M.detach(bufnr)
  ghost.detach(bufnr)
end

--- :InfillToggle and friends.
---@param enabled boolean
function M.set_enabled(enabled)
  local backend = M.backend()
  if backend == 'native' then
    native.set_enabled(enabled)
  elseif not enabled then
    ghost.clear_all()
  end
end

return M
