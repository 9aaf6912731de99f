-- tools_tour.lua: a walk through the built-in tools, chained together.
--   llmspell run spells/tools_tour.lua
local function run(tool, input) return Tools.get(tool):execute(input).result end

print("tools available: " .. #Tools.list())

-- data: parse CSV, aggregate, query JSON
local csv = "region,amount\neu,120\nus,2000\neu,3000\nasia,75\n"
local totals = run("csv_processor", { content = csv, group_by = "region", aggregations = { "sum:amount" } })
local big = run("json_processor", { input = { rows = totals }, query = "rows[?sum_amount > `1000`].region" })
table.sort(big)
print("regions over 1000: " .. table.concat(big, ", "))

-- text and templates
local slug = run("text_manipulator", { text = "  Quarterly Sales Report  ", operations = { "trim", "slugify" } })
local line = run("template_processor", { template = "{{ title }} covers {{ n }} regions",
                                          variables = { title = slug, n = #totals } })
print(line)

-- files (inside security.allowed_paths), hashing, diffs
run("file_writer", { path = "out/report.txt", content = line .. "\n" })
local back = run("file_reader", { path = "out/report.txt" })
local digest = run("hash_calculator", { input = back, algorithm = "sha256" }).hash
print("sha256 of report: " .. digest:sub(1, 16) .. "…")
local d = run("diff_calculator", { old = back, new = back:gsub("regions", "markets") })
print(string.format("diff: +%d -%d", d.added, d.removed))

-- encoding, ids, dates
print("base64: " .. run("base64_encoder", { input = "llmspell" }))
print("uuid v4 length: " .. #run("uuid_generator", {}))
print("2025-01-20T15:30Z in New York: " .. run("date_time_handler", {
  operation = "format", date = "2025-01-20T15:30:00Z", format = "YYYY-MM-DD HH:mm", timezone = "America/New_York" }))
