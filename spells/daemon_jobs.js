// daemon_jobs.js: a daily cron report and a webhook-triggered agent.
//   llmspell serve spells/daemon_jobs.js
//   curl -X POST http://127.0.0.1:8080/hooks/ask -d '{"question": "What is 6 * 7?"}'
//   llmspell jobs list; llmspell jobs history ask
// Under `llmspell run` the jobs are only listed.
const assistant = Agent.new({
  name: "assistant",
  model: params.model || "mock/assistant",
  systemPrompt: "Answer briefly.",
  tools: ["calculator"],
});

Scheduler.register({
  name: "daily_report",
  description: "Counts yesterday's questions every morning at 08:00",
  trigger: { cron: "0 8 * * *", timezone: "Europe/Paris" },
  missed: "run_once",             // after downtime, run once
  run: async (trigger) => {
    const asked = (await Storage.get("questions:count")) || 0;
    const report = `${asked} question(s) answered`;
    await Tools.get("file_writer").execute({ path: "out/daily.txt", content: report + "\n" });
    await Storage.set("questions:count", 0);
    return report;
  },
});

Scheduler.register({
  name: "ask",
  trigger: { webhook: "/hooks/ask" },
  overlap: "allow",
  timeout: 60,
  run: async (trigger) => {
    const question = (trigger.body && trigger.body.question) || "hello";
    await Storage.set("questions:count", ((await Storage.get("questions:count")) || 0) + 1);
    return await assistant.chat(question);
  },
});

print("registered: daily_report (cron 0 8 * * * Europe/Paris), ask (POST /hooks/ask)");
