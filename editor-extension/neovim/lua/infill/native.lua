--- Ghost text through Neovim's own vim.lsp.inline_completion (0.12+): it requests, debounces,
--- renders and accepts; this module only enables it for the infill client and adapts the keys.
local acceptance = require('infill.acceptance')
local state = require('infill.state')

local M = {}

---@return boolean
function M.available()
  local ic = vim.lsp.inline_completion
  return type(ic) == 'table' and type(ic.enable) == 'function' and type(ic.get) == 'function'
end

---@param client vim.lsp.Client
function M.attach(client)
  vim.lsp.inline_completion.enable(state.enabled, { client_id = client.id })
end

--- Turn it on/off for every infill client.
---@param enabled boolean
function M.set_enabled(enabled)
  for _, client in ipairs(state.clients()) do
    vim.lsp.inline_completion.enable(enabled, { client_id = client.id })
  end
end

---@param bufnr integer?
---@return boolean accepted
function M.accept(bufnr)
  return vim.lsp.inline_completion.get({ bufnr = bufnr or 0 }) == true
end

--- Accept the first line of the candidate (or the next line when its first line is empty): its
--- command becomes the partial accept's (`infill.accepted` kind 'line'); a full accept runs the
--- item's own.
---@param bufnr integer?
---@return boolean accepted
function M.accept_line(bufnr)
  return vim.lsp.inline_completion.get({
    bufnr = bufnr or 0,
    on_accept = function(item)
      local text = item.insert_text
      if type(text) == 'string' then
        local stop = text:find('\n', text:sub(1, 1) == '\n' and 2 or 1, true)
        if stop then
          item.insert_text = text:sub(1, stop - 1)
          item.command = acceptance.partial(item.command, 'line', item.insert_text)
        end
      end
      return item
    end,
  }) == true
end

--- Hide the candidate: get() aborts it first, and an on_accept that returns nil inserts nothing.
---@param bufnr integer?
---@return boolean had_candidate
function M.dismiss(bufnr)
  return vim.lsp.inline_completion.get({
    bufnr = bufnr or 0,
    on_accept = function()
      return nil
    end,
  }) == true
end

return M
