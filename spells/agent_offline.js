// agent_offline.js: an agent with tools, running the whole tool-calling loop offline
// on the built-in mock provider (scripted answers, including tool calls).
//   llmspell run spells/agent_offline.js
const lookup = Tools.create("price_lookup", {
  description: "Price of a product in euros",
  inputSchema: { type: "object", properties: { sku: { type: "string" } }, required: ["sku"] },
  execute: (input) => {
    const prices = { A1: 12.5, B2: 7.25 };
    if (!(input.sku in prices)) throw { code: 2002, message: "unknown sku " + input.sku };
    return prices[input.sku];
  },
});

const clerk = Agent.new({
  name: "clerk",
  model: "mock/clerk",
  systemPrompt: "You answer price questions using the tools.",
  tools: [lookup, "calculator"],
  responses: [
    // turn 1: two tool calls at once, then the answer
    { tool_calls: [{ tool: "price_lookup", input: { sku: "A1" } },
                   { tool: "price_lookup", input: { sku: "B2" } }] },
    { tool: "calculator", input: { expression: "3 * 12.5 + 2 * 7.25" } },
    "3 x A1 and 2 x B2 cost 52.0 EUR.",
  ],
});

const out = await clerk.execute({ input: "What do 3 A1 and 2 B2 cost?", context: { customer: "Ada" } });
for (const call of out.toolCalls) {
  print(`tool ${call.name.padEnd(13)} ${JSON.encode(call.input).padEnd(28)} -> ${call.output}`);
}
print("answer: " + out.output);
print("history: " + (await clerk.history()).length + " messages; tokens this turn: " + out.usage.totalTokens);

// With no scripted answer left, the mock echoes the last user message.
print("echo: " + await clerk.chat("Thanks!"));
