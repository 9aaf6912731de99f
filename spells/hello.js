// hello.js: the smallest useful spell — call a tool, read params.
//   llmspell run spells/hello.js --param name=Ada
const name = params.name || "world";
const calc = Tools.get("calculator");
const r = await calc.execute({ expression: "6 * 7" });
print(`Hello, ${name}! 6 * 7 = ${r.result} (${r.metadata.tool} took ${r.metadata.duration_ms.toFixed(2)} ms)`);
