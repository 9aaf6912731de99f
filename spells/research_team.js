// research_team.js: two specialists in parallel, then an editor that combines them.
// Runs against whatever provider is configured ([providers] default in llmspell.toml,
// or --param model=openai/gpt-4o-mini); offline it uses the mock provider.
//   llmspell run spells/research_team.js --param topic="solar storage"
const topic = params.topic || "home batteries";
const model = params.model || Config.get("providers.default") || "mock/echo";

const specialist = (name, focus) => Agent.new({
  name, model, temperature: 0.3, maxTokens: 300,
  systemPrompt: "You are a " + focus + " expert. Give three short, concrete bullet points.",
});

const tech = specialist("technology", "technology");
const market = specialist("market", "market and economics");
const editor = Agent.template("content_specialist", { name: "editor", model, maxTokens: 400 });

const notes = await Promise.all([
  tech.chat("Key technical facts about " + topic),
  market.chat("Key market facts about " + topic),
]);

const report = await editor.chat("Write a five-sentence brief on " + topic + " from these notes.\n\nTechnology:\n"
  + notes[0] + "\n\nMarket:\n" + notes[1]);
print("# Brief: " + topic);
print(report);
await Storage.set("research:" + topic, { notes, report });
