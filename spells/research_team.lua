-- research_team.lua: two specialists in parallel, then an editor that combines them.
-- Runs against whatever provider is configured ([providers] default in llmspell.toml,
-- or --param model=openai/gpt-4o-mini); offline it uses the mock provider.
--   llmspell run spells/research_team.lua --param topic="solar storage"
local topic = params.topic or "home batteries"
local model = params.model or Config.get("providers.default") or "mock/echo"

local function specialist(name, focus)
  return Agent.new({
    name = name, model = model, temperature = 0.3, max_tokens = 300,
    system_prompt = "You are a " .. focus .. " expert. Give three short, concrete bullet points.",
  })
end

local tech = specialist("technology", "technology")
local market = specialist("market", "market and economics")
local editor = Agent.template("content_specialist", { name = "editor", model = model, max_tokens = 400 })

local notes = Async.all({
  function() return tech:chat("Key technical facts about " .. topic) end,
  function() return market:chat("Key market facts about " .. topic) end,
})

local report = editor:chat("Write a five-sentence brief on " .. topic .. " from these notes.\n\nTechnology:\n"
  .. notes[1] .. "\n\nMarket:\n" .. notes[2])
print("# Brief: " .. topic)
print(report)
Storage.set("research:" .. topic, { notes = notes, report = report })
