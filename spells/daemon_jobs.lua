-- daemon_jobs.lua: a daily cron report and a webhook-triggered agent.
--   llmspell serve spells/daemon_jobs.lua
--   curl -X POST http://127.0.0.1:8080/hooks/ask -d '{"question": "What is 6 * 7?"}'
--   llmspell jobs list; llmspell jobs history ask
-- Under `llmspell run` the jobs are only listed.
local assistant = Agent.new({
  name = "assistant",
  model = params.model or "mock/assistant",
  system_prompt = "Answer briefly.",
  tools = { "calculator" },
})

Scheduler.register({
  name = "daily_report",
  description = "Counts yesterday's questions every morning at 08:00",
  trigger = { cron = "0 8 * * *", timezone = "Europe/Paris" },
  missed = "run_once",            -- after downtime, run once
  run = function(trigger)
    local asked = Storage.get("questions:count") or 0
    local report = string.format("%d question(s) answered", asked)
    Tools.get("file_writer"):execute({ path = "out/daily.txt", content = report .. "\n" })
    Storage.set("questions:count", 0)
    return report
  end,
})

Scheduler.register({
  name = "ask",
  trigger = { webhook = "/hooks/ask" },
  overlap = "allow",
  timeout = 60,
  run = function(trigger)
    local question = (trigger.body and trigger.body.question) or "hello"
    Storage.set("questions:count", (Storage.get("questions:count") or 0) + 1)
    return assistant:chat(question)
  end,
})

print("registered: daily_report (cron 0 8 * * * Europe/Paris), ask (POST /hooks/ask)")
