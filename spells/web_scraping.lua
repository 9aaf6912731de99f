-- web_scraping.lua: fetch pages in parallel (map_reduce), extract their titles and
-- text, and let an agent aggregate them. Needs pages to scrape:
--   python spells/web_scraping_demo.py     (serves pages on 127.0.0.1 and runs this spell)
--   llmspell run spells/web_scraping.lua --param base_url=http://127.0.0.1:8000
local base = params.base_url
if not base then
  print("give --param base_url=http://host:port (or run: python spells/web_scraping_demo.py)")
  return
end
local pages = params.pages or { "/alpha.html", "/beta.html", "/gamma.html", "/delta.html" }

local model = params.model or "mock/aggregate"
local summarizer = Agent.new({ name = "aggregator", model = model,
  system_prompt = "Combine page summaries into one paragraph.",
  responses = model:sub(1, 5) == "mock/" and { "Four pages on clean energy: solar, wind, heat pumps and batteries." } or nil })

local scrape = Workflow.map_reduce({
  name = "scrape",
  items = pages,
  max_concurrency = 4,
  map = Workflow.sequential({ name = "page", steps = {
    { name = "fetch", tool = "http_client", input = { url = base .. "{{input}}", timeout = 5 },
      output = "page", retry = { attempts = 2, backoff = 0.1 } },
    { name = "extract", run = function(ctx)
        local html = ctx.page.result.body
        local title = html:match("<title>(.-)</title>") or "?"
        local text = html:gsub("<[^>]+>", " "):gsub("%s+", " ")
        return { url = ctx.input, status = ctx.page.result.status, title = title, words = #text // 6 }
      end },
  } }),
  reduce = function(results)
    table.sort(results, function(a, b) return a.url < b.url end)
    return results
  end,
})

local res = scrape:execute()
local lines = {}
for _, p in ipairs(res.output) do
  print(string.format("%-12s %d  %-22s ~%d words", p.url, p.status, p.title, p.words))
  lines[#lines + 1] = p.title
end
print("aggregate: " .. summarizer:chat("Titles: " .. table.concat(lines, "; ")))
