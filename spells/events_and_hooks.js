// events_and_hooks.js: audit every tool call with a hook, react to events, block a tool.
//   llmspell run spells/events_and_hooks.js
const audit = [];
Hooks.register("before_tool_execution", (ctx) => {
  audit.push(ctx.name);
  if (ctx.name === "environment_reader") {
    return { action: "cancel", reason: "environment access is blocked in this spell" };
  }
}, { priority: 1 });

// Round every calculator result: an after-hook may rewrite the output.
Hooks.register("after_tool_execution", (ctx) => {
  if (ctx.name === "calculator") {
    const out = ctx.output;
    out.result = Math.floor(out.result + 0.5);
    return { action: "modify", output: out };
  }
});

let completed = 0;
Events.subscribe("tool.completed", () => { completed += 1; });
Events.subscribe("report.*", (ev) => {
  print("event " + ev.type + ": " + ev.data.title);
});

print("22 / 7 rounds to " + (await Tools.get("calculator").execute({ expression: "22 / 7" })).result);
try {
  await Tools.get("environment_reader").execute({});
} catch (err) {
  print("blocked: " + err);
}
Events.emit("report.ready", { title: "weekly numbers" });
await Async.sleep(0.01);   // let subscribers run
print("audit: " + audit.join(", ") + "; completed tool calls: " + completed);
print("recent events kept: " + (await Events.replay({ type: "report.*", limit: 5 })).length + "+");
