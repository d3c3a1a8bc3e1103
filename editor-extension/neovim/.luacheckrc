-- luacheck --config .luacheckrc . (from editor-extension/neovim)
std = 'luajit'
globals = { 'vim' }
max_line_length = 120
exclude_files = { 'node_modules/**' }
