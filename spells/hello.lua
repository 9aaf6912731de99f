-- hello.lua: the smallest useful spell — call a tool, read params.
--   llmspell run spells/hello.lua --param name=Ada
local name = params.name or "world"
local calc = Tools.get("calculator")
local r = calc:execute({ expression = "6 * 7" })
print(string.format("Hello, %s! 6 * 7 = %d (%s took %.2f ms)", name, r.result, r.metadata.tool,
                    r.metadata.duration_ms))
