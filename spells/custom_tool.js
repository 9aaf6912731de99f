// custom_tool.js: write a tool in JavaScript, register it, and use it like a built-in.
//   llmspell run spells/custom_tool.js --param text="make it loud"
const shout = Tools.create("shout", {
  description: "Upper-cases text and counts the words",
  category: "custom",
  inputSchema: {
    type: "object",
    properties: { text: { type: "string" }, exclaim: { type: "boolean" } },
    required: ["text"],
  },
  execute: async (input) => {
    const words = (await Tools.get("text_manipulator").execute({ text: input.text, operation: "word_count" })).result;
    return { text: input.text.toUpperCase() + (input.exclaim ? "!" : ""), words };
  },
});
Tools.register(shout);

const r = await Tools.get("shout").execute({ text: params.text || "hello spells", exclaim: true });
print(r.result.text + " (" + r.result.words + " words)");

// Input is validated against the schema, like every tool.
try {
  await Tools.get("shout").execute({ text: 42 });
} catch (err) {
  print("bad input -> " + err.code + " " + err.type);
}
print("found by search: " + Tools.search("upper-cases")[0].name);
