-- research_pipeline.lua: parallel research -> synthesis -> review, as one workflow.
-- Offline on the mock provider; pass --param model=openai/gpt-4o-mini (or set
-- [providers] default) to run it against a real model.
--   llmspell run spells/research_pipeline.lua --param topic="heat pumps"
local topic = params.topic or "heat pumps"
local model = params.model or "mock/research"
local offline = model:sub(1, 5) == "mock/"

local function agent(name, prompt, scripted)
  return Agent.new({ name = name, model = model, system_prompt = prompt,
                     responses = offline and scripted or nil })
end

local tech = agent("tech", "You research technology. Three bullet points.",
  { "- COP of 3-4\n- works to -25C\n- inverter compressors" })
local econ = agent("econ", "You research economics. Three bullet points.",
  { "- install cost 8-15k EUR\n- subsidies common\n- payback 7-12 years" })
local writer = agent("writer", "You write a short brief from research notes.",
  { "Heat pumps move 3-4 units of heat per unit of power, work in deep cold, and pay back in 7-12 years with subsidies." })
local reviewer = agent("reviewer", "Reply APPROVED or list problems.", { "APPROVED" })

local research = Workflow.parallel({
  name = "research",
  steps = {
    { name = "technology", agent = tech, input = "Research {{input.topic}}: technology", output = "tech" },
    { name = "economics", agent = econ, input = "Research {{input.topic}}: economics", output = "econ" },
  },
  aggregate = function(o) return "Technology:\n" .. o.tech .. "\n\nEconomics:\n" .. o.econ end,
})

local pipeline = Workflow.sequential({
  name = "research_pipeline",
  checkpoint = true,
  steps = {
    { name = "research", workflow = research, input = "{{input}}", output = "notes" },
    { name = "synthesis", agent = writer, input = "Write a brief on {{input.topic}} from:\n{{notes}}",
      output = "brief", retry = { attempts = 2, backoff = 0.2 } },
    { name = "review", agent = reviewer, input = "Review this brief:\n{{brief}}", output = "verdict" },
    { name = "save", run = function(ctx)
        Storage.set("brief:" .. ctx.input.topic, { brief = ctx.brief, verdict = ctx.verdict })
        return ctx.verdict
      end },
  },
})

local r = pipeline:execute({ topic = topic })
print("# " .. topic)
print(r.outputs.notes)
print()
print("Brief: " .. r.outputs.brief)
print("Review: " .. r.outputs.verdict)
print(string.format("(%s, %d steps, run %s)", r.status, #r.steps, r.run_id))
