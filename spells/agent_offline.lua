-- agent_offline.lua: an agent with tools, running the whole tool-calling loop offline
-- on the built-in mock provider (scripted answers, including tool calls).
--   llmspell run spells/agent_offline.lua
local lookup = Tools.create("price_lookup", {
  description = "Price of a product in euros",
  input_schema = { type = "object", properties = { sku = { type = "string" } }, required = { "sku" } },
  execute = function(input)
    local prices = { A1 = 12.5, B2 = 7.25 }
    return prices[input.sku] or error({ code = 2002, message = "unknown sku " .. input.sku })
  end,
})

local clerk = Agent.new({
  name = "clerk",
  model = "mock/clerk",
  system_prompt = "You answer price questions using the tools.",
  tools = { lookup, "calculator" },
  responses = {
    -- turn 1: two tool calls at once, then the answer
    { tool_calls = { { tool = "price_lookup", input = { sku = "A1" } },
                     { tool = "price_lookup", input = { sku = "B2" } } } },
    { tool = "calculator", input = { expression = "3 * 12.5 + 2 * 7.25" } },
    "3 x A1 and 2 x B2 cost 52.0 EUR.",
  },
})

local out = clerk:execute({ input = "What do 3 A1 and 2 B2 cost?", context = { customer = "Ada" } })
for _, call in ipairs(out.tool_calls) do
  print(string.format("tool %-13s %-28s -> %g", call.name, JSON.encode(call.input), call.output))
end
print("answer: " .. out.output)
print("history: " .. #clerk:history() .. " messages; tokens this turn: " .. out.usage.total_tokens)

-- With no scripted answer left, the mock echoes the last user message.
print("echo: " .. clerk:chat("Thanks!"))
