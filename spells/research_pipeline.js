// research_pipeline.js: parallel research -> synthesis -> review, as one workflow.
// Offline on the mock provider; pass --param model=openai/gpt-4o-mini (or set
// [providers] default) to run it against a real model.
//   llmspell run spells/research_pipeline.js --param topic="heat pumps"
const topic = params.topic || "heat pumps";
const model = params.model || "mock/research";
const offline = model.startsWith("mock/");

const agent = (name, prompt, scripted) =>
  Agent.new({ name, model, systemPrompt: prompt, responses: offline ? scripted : undefined });

const tech = agent("tech", "You research technology. Three bullet points.",
  ["- COP of 3-4\n- works to -25C\n- inverter compressors"]);
const econ = agent("econ", "You research economics. Three bullet points.",
  ["- install cost 8-15k EUR\n- subsidies common\n- payback 7-12 years"]);
const writer = agent("writer", "You write a short brief from research notes.",
  ["Heat pumps move 3-4 units of heat per unit of power, work in deep cold, and pay back in 7-12 years with subsidies."]);
const reviewer = agent("reviewer", "Reply APPROVED or list problems.", ["APPROVED"]);

const research = Workflow.parallel({
  name: "research",
  steps: [
    { name: "technology", agent: tech, input: "Research {{input.topic}}: technology", output: "tech" },
    { name: "economics", agent: econ, input: "Research {{input.topic}}: economics", output: "econ" },
  ],
  aggregate: (o) => "Technology:\n" + o.tech + "\n\nEconomics:\n" + o.econ,
});

const pipeline = Workflow.sequential({
  name: "research_pipeline",
  checkpoint: true,
  steps: [
    { name: "research", workflow: research, input: "{{input}}", output: "notes" },
    { name: "synthesis", agent: writer, input: "Write a brief on {{input.topic}} from:\n{{notes}}",
      output: "brief", retry: { attempts: 2, backoff: 0.2 } },
    { name: "review", agent: reviewer, input: "Review this brief:\n{{brief}}", output: "verdict" },
    { name: "save", run: async (ctx) => {
        await Storage.set("brief:" + ctx.input.topic, { brief: ctx.brief, verdict: ctx.verdict });
        return ctx.verdict;
      } },
  ],
});

const r = await pipeline.execute({ topic });
print("# " + topic);
print(r.outputs.notes);
print();
print("Brief: " + r.outputs.brief);
print("Review: " + r.outputs.verdict);
print(`(${r.status}, ${r.steps.length} steps, run ${r.runId})`);
