// tools_tour.js: a walk through the built-in tools, chained together.
//   llmspell run spells/tools_tour.js
const run = async (tool, input) => (await Tools.get(tool).execute(input)).result;

print("tools available: " + Tools.list().length);

// data: parse CSV, aggregate, query JSON
const csv = "region,amount\neu,120\nus,2000\neu,3000\nasia,75\n";
const totals = await run("csv_processor", { content: csv, group_by: "region", aggregations: ["sum:amount"] });
const big = await run("json_processor", { input: { rows: totals }, query: "rows[?sum_amount > `1000`].region" });
big.sort();
print("regions over 1000: " + big.join(", "));

// text and templates
const slug = await run("text_manipulator", { text: "  Quarterly Sales Report  ", operations: ["trim", "slugify"] });
const line = await run("template_processor", { template: "{{ title }} covers {{ n }} regions",
                                               variables: { title: slug, n: totals.length } });
print(line);

// files (inside security.allowed_paths), hashing, diffs
await run("file_writer", { path: "out/report.txt", content: line + "\n" });
const back = await run("file_reader", { path: "out/report.txt" });
const digest = (await run("hash_calculator", { input: back, algorithm: "sha256" })).hash;
print("sha256 of report: " + digest.slice(0, 16) + "…");
const d = await run("diff_calculator", { old: back, new: back.replace("regions", "markets") });
print(`diff: +${d.added} -${d.removed}`);

// encoding, ids, dates
print("base64: " + await run("base64_encoder", { input: "llmspell" }));
print("uuid v4 length: " + (await run("uuid_generator", {})).length);
print("2025-01-20T15:30Z in New York: " + await run("date_time_handler", {
  operation: "format", date: "2025-01-20T15:30:00Z", format: "YYYY-MM-DD HH:mm", timezone: "America/New_York" }));
