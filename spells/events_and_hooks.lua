-- events_and_hooks.lua: audit every tool call with a hook, react to events, block a tool.
--   llmspell run spells/events_and_hooks.lua
local audit = {}
Hooks.register("before_tool_execution", function(ctx)
  table.insert(audit, ctx.name)
  if ctx.name == "environment_reader" then
    return { action = "cancel", reason = "environment access is blocked in this spell" }
  end
end, { priority = 1 })

-- Round every calculator result: an after-hook may rewrite the output.
Hooks.register("after_tool_execution", function(ctx)
  if ctx.name == "calculator" then
    local out = ctx.output
    out.result = math.floor(out.result + 0.5)
    return { action = "modify", output = out }
  end
end)

local completed = 0
Events.subscribe("tool.completed", function(ev) completed = completed + 1 end)
Events.subscribe("report.*", function(ev)
  print("event " .. ev.type .. ": " .. ev.data.title)
end)

print("22 / 7 rounds to " .. Tools.get("calculator"):execute({ expression = "22 / 7" }).result)
local ok, err = pcall(function() return Tools.get("environment_reader"):execute({}) end)
print("blocked: " .. tostring(err))
Events.emit("report.ready", { title = "weekly numbers" })
Async.sleep(0.01)   -- let subscribers run
print("audit: " .. table.concat(audit, ", ") .. "; completed tool calls: " .. completed)
print("recent events kept: " .. #Events.replay({ type = "report.*", limit = 5 }) .. "+")
