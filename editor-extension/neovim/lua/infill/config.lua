--- Options of require('infill').setup(): defaults, validation and the LSP config they make.
local M = {}

M.defaults = {
  -- How to start the server (stdio). E.g. { '/path/.venv/bin/python', '-m', 'lsp_server' }.
  cmd = { 'infill-lsp' },
  filetypes = {
    'python',
    'javascript',
    'javascriptreact',
    'typescript',
    'typescriptreact',
    'go',
    'rust',
    'java',
    'c',
    'cpp',
    'lua',
  },
  root_markers = {
    'pyproject.toml',
    'setup.py',
    'package.json',
    'go.mod',
    'Cargo.toml',
    'pom.xml',
    'build.gradle',
    'Makefile',
    '.git',
  },
  -- Server settings, camelCase as in lsp_server/settings.py: { maxTimeMs = 1500, ... }.
  settings = {},
  -- Start the server automatically for `filetypes` (vim.lsp.enable).
  autostart = true,
  -- One server (one model in memory) for the whole Neovim session, whatever the project root;
  -- false = one per root directory (Neovim's default).
  single_server = true,
  -- Ghost text: 'auto' = Neovim's vim.lsp.inline_completion when it exists (0.12+), else the
  -- plugin's own extmark renderer; 'native' / 'extmark' force one; false = none (use the
  -- server's completion-menu fallback, settings.completionFallback = 'always').
  inline = 'auto',
  -- Extmark renderer: wait this long after the last keystroke before asking the server.
  debounce_ms = 150,
  -- Extmark renderer: no ghost text while the completion popup menu is visible.
  hide_during_completion = true,
  -- Insert-mode keys, buffer-local where the server is attached; false disables one. Each falls
  -- back to the key's own behaviour when no suggestion is shown, so '<Tab>' is safe too.
  keymaps = {
    accept = '<M-l>', -- the whole suggestion
    accept_line = '<M-j>', -- up to the end of its current line (the next line if it is empty)
    dismiss = '<C-]>',
    trigger = '<M-\\>', -- ask now, without waiting for the debounce (extmark renderer)
  },
  -- Echo the server's $/progress messages while :InfillFix runs.
  fix_progress = true,
  -- Extra fields merged into the vim.lsp.config('infill', ...) table (capabilities, ...).
  lsp = {},
}

local function check(ok, message)
  if not ok then
    error('infill.setup: ' .. message, 3)
  end
end

--- Defaults deep-merged with the user's options (lists replace, they are not merged).
---@param user table?
---@return table
function M.resolve(user)
  user = user or {}
  check(type(user) == 'table', 'options must be a table')
  local opts = vim.deepcopy(M.defaults)
  for key, value in pairs(user) do
    if key == 'keymaps' and type(value) == 'table' then
      for name, lhs in pairs(value) do
        opts.keymaps[name] = lhs
      end
    elseif key == 'keymaps' and value == false then
      opts.keymaps = { accept = false, accept_line = false, dismiss = false, trigger = false }
    else
      opts[key] = vim.deepcopy(value)
    end
  end
  if type(opts.cmd) == 'string' then
    opts.cmd = { opts.cmd }
  end
  check(
    type(opts.cmd) == 'function' or (type(opts.cmd) == 'table' and #opts.cmd > 0),
    'cmd must be a non-empty list such as { "infill-lsp" }'
  )
  check(type(opts.filetypes) == 'table', 'filetypes must be a list')
  check(type(opts.root_markers) == 'table', 'root_markers must be a list')
  check(type(opts.settings) == 'table', 'settings must be a table of camelCase server settings')
  if type(opts.settings.infill) == 'table' then -- accept { infill = {...} } as the server does
    opts.settings = opts.settings.infill
  end
  check(
    opts.inline == false or vim.tbl_contains({ 'auto', 'native', 'extmark' }, opts.inline),
    "inline must be 'auto', 'native', 'extmark' or false"
  )
  check(
    type(opts.debounce_ms) == 'number' and opts.debounce_ms >= 0,
    'debounce_ms must be a number >= 0'
  )
  check(type(opts.lsp) == 'table', 'lsp must be a table')
  for name, lhs in pairs(opts.keymaps) do
    check(
      lhs == false or type(lhs) == 'string',
      ('keymaps.%s must be a key (string) or false'):format(name)
    )
  end
  return opts
end

--- The settings as the server reads them: { infill = {...} } (an empty table must go out as a
--- JSON object, not as the empty array Lua's {} encodes to).
---@param settings table
---@return table
function M.wire(settings)
  local copy = vim.deepcopy(settings)
  return { infill = next(copy) and copy or vim.empty_dict() }
end

return M
