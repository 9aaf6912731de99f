-- custom_tool.lua: write a tool in Lua, register it, and use it like a built-in.
--   llmspell run spells/custom_tool.lua --param text="make it loud"
local shout = Tools.create("shout", {
  description = "Upper-cases text and counts the words",
  category = "custom",
  input_schema = {
    type = "object",
    properties = { text = { type = "string" }, exclaim = { type = "boolean" } },
    required = { "text" },
  },
  execute = function(input)
    local words = Tools.get("text_manipulator"):execute({ text = input.text, operation = "word_count" }).result
    return { text = string.upper(input.text) .. (input.exclaim and "!" or ""), words = words }
  end,
})
Tools.register(shout)

local r = Tools.get("shout"):execute({ text = params.text or "hello spells", exclaim = true })
print(r.result.text .. " (" .. r.result.words .. " words)")

-- Input is validated against the schema, like every tool.
local ok, err = pcall(function() return Tools.get("shout"):execute({ text = 42 }) end)
print("bad input -> " .. err.code .. " " .. err.type)
print("found by search: " .. Tools.search("upper-cases")[1].name)
