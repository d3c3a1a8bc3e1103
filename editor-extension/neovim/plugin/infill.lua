-- infill-lsp commands. Nothing starts until require('infill').setup() is called.
if vim.g.loaded_infill then
  return
end
vim.g.loaded_infill = true

local command = vim.api.nvim_create_user_command

command('InfillFix', function(args)
  local test = args.args ~= '' and args.args or nil
  if args.bang then
    vim.ui.input({ prompt = 'infill: fix instruction: ' }, function(instruction)
      if instruction ~= nil then
        require('infill').fix({ instruction = instruction, test = test })
      end
    end)
  else
    require('infill').fix({ test = test })
  end
end, {
  bang = true,
  nargs = '?',
  desc = 'infill: fix the function under the cursor ([test] = a failing pytest node id; ! asks for an instruction)',
})

command('InfillFixWith', function(args)
  require('infill').fix({ instruction = args.args })
end, { nargs = '+', desc = 'infill: fix the function under the cursor following {instruction}' })

command('InfillFixAction', function()
  require('infill.fix').code_action()
end, { desc = 'infill: the "Fix this function" code action (codeAction/resolve route)' })

command('InfillStatus', function()
  require('infill').show_status()
end, { desc = 'infill: model state, last completion and fix, acceptance totals' })

command('InfillDeleteStats', function(args)
  require('infill').delete_stats(args.bang)
end, {
  bang = true,
  desc = 'infill: delete the acceptance statistics (! = without asking)',
})

command('InfillToggle', function()
  require('infill').toggle()
end, { desc = 'infill: turn completions on/off' })

command('InfillEnable', function()
  require('infill').set_enabled(true)
end, { desc = 'infill: turn completions on' })

command('InfillDisable', function()
  require('infill').set_enabled(false)
end, { desc = 'infill: turn completions off' })
