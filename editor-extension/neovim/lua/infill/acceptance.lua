--- Acceptance statistics, the editor's side (the server counts, see :help infill-acceptance):
--- the `infill.accepted` command of a partial accept, :InfillStatus's lines, :InfillDeleteStats.
--- A full accept runs the item's own command (`infill.accepted` {id, kind = 'full'}).
local state = require('infill.state')

local M = {}

M.ACCEPTED = 'infill.accepted'
M.DELETE = 'infill.deleteStats'

--- The command telling the server that `text` of a suggestion was accepted by one key press
--- (`kind` 'line' or 'word'), from the suggestion's own command; nil when that is not the
--- server's `infill.accepted` (another server) or nothing was accepted.
---@param command table? the item's LSP Command
---@param kind string
---@param text string what this key press inserted
---@return table?
function M.partial(command, kind, text)
  if type(command) ~= 'table' or command.command ~= M.ACCEPTED or text == '' then
    return nil
  end
  local arg = type(command.arguments) == 'table' and command.arguments[1]
  if type(arg) ~= 'table' or type(arg.id) ~= 'string' then
    return nil
  end
  return {
    title = command.title,
    command = M.ACCEPTED,
    -- characters as the server counts them (code points), not bytes
    arguments = { { id = arg.id, kind = kind, length = vim.fn.strchars(text) } },
  }
end

--- Run `command` (an item's, or a partial one) on the client that gave the item:
--- workspace/executeCommand.
---@param client_id integer
---@param bufnr integer
---@param command table?
function M.run(client_id, bufnr, command)
  local client = command and vim.lsp.get_client_by_id(client_id)
  if client and not client:is_stopped() then
    client:exec_cmd(command, { bufnr = bufnr })
  end
end

local function count(value)
  return type(value) == 'number' and value or 0
end

local function percent(share)
  return ('%d%%'):format(math.floor(share * 100 + 0.5))
end

--- One set of totals, e.g. 'accepted 12 of 40 (30%), 3 partly, 5 typed through, 20 rejected;
--- 410 characters accepted, kept 85% after 5 min'.
---@param t table `acceptance.session` / `acceptance.stored` of infill/status
---@return string
function M.text(t)
  local shown, accepted = count(t.shown), count(t.accepted)
  local text = ('accepted %d of %d'):format(accepted, shown)
  if shown > 0 then
    text = text .. (' (%s)'):format(percent(count(t.rate)))
  end
  text = text
    .. (', %d partly, %d typed through, %d rejected; %d characters accepted'):format(
      count(t.partial),
      count(t.typedThrough),
      count(t.rejected),
      count(t.charsAccepted)
    )
  if type(t.keptRate5m) == 'number' then
    text = text .. (', kept %s after 5 min'):format(percent(t.keptRate5m))
  end
  return text
end

--- :InfillStatus's lines from infill/status's `acceptance` (none from a server without it).
---@param acceptance table?
---@return string[]
function M.lines(acceptance)
  if type(acceptance) ~= 'table' then
    return {}
  end
  local lines = {}
  if type(acceptance.session) == 'table' then
    lines[#lines + 1] = 'acceptance, this session: ' .. M.text(acceptance.session)
  end
  if acceptance.enabled == false then
    lines[#lines + 1] = 'acceptance statistics: not stored (setting stats = false)'
  elseif type(acceptance.fault) == 'string' and acceptance.fault ~= '' then
    lines[#lines + 1] = 'acceptance statistics: ' .. acceptance.fault
  elseif type(acceptance.stored) == 'table' and count(acceptance.stored.shown) > 0 then
    -- (the server reads the file at most once a minute: it may lag this session's line)
    lines[#lines + 1] = ('acceptance, all sessions (%s): %s'):format(
      tostring(acceptance.path),
      M.text(acceptance.stored)
    )
  end
  return lines
end

local function notify(message, level)
  vim.notify('infill: ' .. message, level or vim.log.levels.INFO)
end

--- :InfillDeleteStats[!]: delete the statistics file (and this session's totals), after
--- asking unless `force`.
---@param force boolean?
---@param on_done fun(result: table?, err: table?)?
function M.delete(force, on_done)
  local client = state.client() or state.clients()[1]
  if not client then
    notify('no infill server is running', vim.log.levels.WARN)
    return
  end
  if not force then
    local answer =
      vim.fn.confirm('Delete the infill acceptance statistics?', '&Delete\n&Cancel', 2, 'Question')
    if answer ~= 1 then
      return
    end
  end
  client:request('workspace/executeCommand', { command = M.DELETE }, function(err, result)
    if err or type(result) ~= 'table' then
      notify(
        'deleting the statistics failed: ' .. (err and err.message or 'no answer'),
        vim.log.levels.ERROR
      )
    elseif result.deleted then
      notify('acceptance statistics deleted (' .. tostring(result.path) .. ')')
    else
      notify(
        tostring(result.path) .. ' could not be deleted; see the server log',
        vim.log.levels.WARN
      )
    end
    if on_done then
      on_done(result, err)
    end
  end)
end

return M
