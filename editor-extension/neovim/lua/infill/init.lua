--- infill-lsp for Neovim 0.11+: inline fill-in-the-middle suggestions and "Fix this function"
--- from a local GGUF model. See :help infill.
local config = require('infill.config')
local state = require('infill.state')

local M = {}

local function inline()
  return require('infill.inline')
end

local function notify(message, level)
  vim.notify('infill: ' .. message, level or vim.log.levels.INFO)
end

--- Register the server with vim.lsp.config('infill') and enable it (Neovim 0.11+).
---@param user table? see :help infill-setup
function M.setup(user)
  if vim.fn.has('nvim-0.11') == 0 then
    notify('Neovim 0.11 or newer is required (vim.lsp.config)', vim.log.levels.ERROR)
    return
  end
  local opts = config.resolve(user)
  state.opts = opts
  state.enabled = opts.settings.enable ~= false
  if opts.inline == 'native' and not require('infill.native').available() then
    notify(
      "inline = 'native' needs Neovim 0.12+ (vim.lsp.inline_completion); using extmarks",
      vim.log.levels.WARN
    )
  end

  local group = vim.api.nvim_create_augroup('infill', { clear = true })
  vim.api.nvim_set_hl(0, 'InfillSuggestion', { link = 'Comment', default = true })
  vim.api.nvim_create_autocmd('ColorScheme', {
    group = group,
    callback = function()
      vim.api.nvim_set_hl(0, 'InfillSuggestion', { link = 'Comment', default = true })
    end,
  })

  -- Replaces (not merges) an earlier setup's config: list fields must not mix index by index.
  vim.lsp.config[state.NAME] = vim.tbl_deep_extend('force', {
    cmd = opts.cmd,
    filetypes = opts.filetypes,
    root_markers = opts.root_markers,
    -- Settings go in initializationOptions only: a `settings` field would make Neovim send
    -- them again right after `initialized`, while the model is loading.
    init_options = config.wire(opts.settings),
    -- Neovim 0.11 does not announce inline completion; the server needs to see it to leave
    -- textDocument/completion alone (its menu fallback is for clients without it). Not
    -- announced with `inline = false`: then the infill comes as a completion-menu item.
    capabilities = opts.inline ~= false and {
      textDocument = { inlineCompletion = { dynamicRegistration = false } },
    } or nil,
    handlers = { [state.STATUS_CHANGED] = state.on_status_changed },
    reuse_client = opts.single_server and function(client, cfg)
      return client.name == cfg.name and not client:is_stopped()
    end or nil,
  }, opts.lsp)

  vim.api.nvim_create_autocmd('LspAttach', {
    group = group,
    callback = function(args)
      local client = vim.lsp.get_client_by_id(args.data.client_id)
      if not client or client.name ~= state.NAME then
        return
      end
      -- Answers workspace/configuration, and what :InfillToggle updates.
      if not (client.settings and client.settings.infill) then
        client.settings = { infill = vim.deepcopy(opts.settings) }
      end
      state.status[client.id] = state.status[client.id]
        or { state = 'starting', message = '', model = nil }
      inline().attach(client, args.buf)
      require('infill.cursor').attach(args.buf) -- infill/cursor: where the cursor rests
    end,
  })
  vim.api.nvim_create_autocmd('LspDetach', {
    group = group,
    callback = function(args)
      local client = vim.lsp.get_client_by_id(args.data.client_id)
      if client and client.name == state.NAME then
        inline().detach(args.buf)
        require('infill.cursor').detach(args.buf)
      end
    end,
  })

  if opts.autostart then
    vim.lsp.enable(state.NAME)
  end
end

--- Accept the whole suggestion shown in the current buffer. False when none is shown.
---@return boolean
function M.accept()
  return inline().accept()
end

--- Accept one line of the suggestion. False when none is shown.
---@return boolean
function M.accept_line()
  return inline().accept_line()
end

--- Hide the suggestion. False when none was shown.
---@return boolean
function M.dismiss()
  return inline().dismiss()
end

--- Ask for a suggestion at the cursor now (what the insert-mode autocmds do after the debounce).
---@return boolean sent
function M.trigger()
  return inline().trigger()
end

--- The text of the suggestion shown by the extmark renderer, or nil.
---@return string?
function M.suggestion()
  return inline().suggestion()
end

--- Fix the function under the cursor (:InfillFix). See :help infill-fix.
---@param opts infill.FixOpts?
---@return boolean sent
function M.fix(opts)
  return require('infill.fix').fix(opts)
end

--- The model state for a statusline: '' when no infill server serves the current buffer, else
--- 'infill: ready' / 'infill: loading' / 'infill: fixing' / 'infill: off' / 'infill: error'...
---@param bufnr integer?
---@return string
function M.status(bufnr)
  local client = state.client(bufnr)
  if not client then
    return ''
  end
  if state.fixing[client.id] then
    return 'infill: fixing'
  end
  local st = state.status[client.id]
  local name = st and st.state or 'starting'
  if not state.enabled or name == 'disabled' then
    return 'infill: off'
  end
  return 'infill: ' .. name
end

--- Everything known about the server of the current buffer: the pushed state plus, when
--- `sync`, the `infill/status` answer {state, message, model, settings, last, lastFix, totals}.
---@param bufnr integer?
---@param timeout_ms integer?
---@return table?
function M.server_status(bufnr, timeout_ms)
  local client = state.client(bufnr)
  if not client then
    return nil
  end
  local answer = client:request_sync(state.STATUS, vim.empty_dict(), timeout_ms or 3000, bufnr)
  if answer and answer.result then
    return answer.result
  end
  return state.status[client.id]
end

local function short(value)
  if type(value) ~= 'table' then
    return tostring(value)
  end
  local parts = {}
  for key, v in vim.spairs(value) do
    parts[#parts + 1] = ('%s=%s'):format(key, type(v) == 'table' and vim.inspect(v) or tostring(v))
  end
  return table.concat(parts, ', ')
end

--- :InfillStatus: echo the state, model, last completion and fix, acceptance and totals.
function M.show_status()
  local client = state.client()
  if not client then
    local ft = vim.bo.filetype
    notify(
      ('no server attached to this buffer (filetype %q); see :checkhealth infill'):format(ft),
      vim.log.levels.WARN
    )
    return
  end
  client:request(state.STATUS, vim.empty_dict(), function(err, result)
    if err or type(result) ~= 'table' then
      notify('infill/status failed: ' .. (err and err.message or 'no answer'), vim.log.levels.ERROR)
      return
    end
    local lines = {}
    local headline = 'infill: ' .. tostring(result.state)
    if result.message and result.message ~= '' then
      headline = headline .. ' (' .. result.message .. ')'
    end
    lines[#lines + 1] = { headline .. (state.enabled and '' or ' [completions off]') .. '\n' }
    local model = result.model
    if type(model) == 'table' then
      lines[#lines + 1] = {
        ('model: %s (%s, %s, context %s)\n'):format(
          tostring(model.path),
          model.verified and 'verified' or 'not verified',
          tostring(model.dialect),
          tostring(model.nCtx)
        ),
      }
      local choice = type(model.choice) == 'table' and model.choice or {}
      if type(choice.reason) == 'string' and choice.reason ~= '' then
        lines[#lines + 1] = { 'why this model: ' .. choice.reason .. '\n' }
      end
      if type(model.speculation) == 'string' and model.speculation ~= 'off' then
        lines[#lines + 1] = { 'speculation: ' .. model.speculation .. '\n' }
      end
    end
    if type(result.last) == 'table' and next(result.last) then
      lines[#lines + 1] = { 'last completion: ' .. short(result.last) .. '\n' }
    end
    if type(result.lastFix) == 'table' and next(result.lastFix) then
      lines[#lines + 1] = { 'last fix: ' .. short(result.lastFix) .. '\n' }
    end
    for _, line in ipairs(require('infill.acceptance').lines(result.acceptance)) do
      lines[#lines + 1] = { line .. '\n' }
    end
    if type(result.totals) == 'table' then
      lines[#lines + 1] = { 'totals: ' .. short(result.totals) }
    end
    vim.api.nvim_echo(lines, true, {})
  end, vim.api.nvim_get_current_buf())
end

--- :InfillDeleteStats: delete the acceptance statistics (asks first unless `force`).
---@param force boolean?
---@param on_done fun(result: table?, err: table?)?
function M.delete_stats(force, on_done)
  require('infill.acceptance').delete(force, on_done)
end

--- Turn completions on or off (:InfillEnable / :InfillDisable); sends the server `enable`.
---@param enabled boolean
function M.set_enabled(enabled)
  state.enabled = enabled
  if state.opts then
    state.opts.settings.enable = enabled
  end
  for _, client in ipairs(state.clients()) do
    client.settings = client.settings or {}
    client.settings.infill = client.settings.infill or {}
    client.settings.infill.enable = enabled
    client:notify(
      'workspace/didChangeConfiguration',
      { settings = { infill = { enable = enabled } } }
    )
  end
  inline().set_enabled(enabled)
  if not enabled then
    require('infill.cursor').cancel_all()
  end
  notify(enabled and 'completions on' or 'completions off')
  pcall(vim.cmd.redrawstatus, { bang = true })
end

--- :InfillToggle.
function M.toggle()
  M.set_enabled(not state.enabled)
end

--- True while completions are on.
---@return boolean
function M.is_enabled()
  return state.enabled
end

return M
