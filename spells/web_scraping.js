// web_scraping.js: fetch pages in parallel (map_reduce), extract their titles and
// text, and let an agent aggregate them. Needs pages to scrape:
//   python spells/web_scraping_demo.py --engine js   (serves pages on 127.0.0.1 and runs this spell)
//   llmspell run spells/web_scraping.js --param base_url=http://127.0.0.1:8000
const base = params.base_url;
if (!base) {
  print("give --param base_url=http://host:port (or run: python spells/web_scraping_demo.py)");
} else {
  const pages = params.pages || ["/alpha.html", "/beta.html", "/gamma.html", "/delta.html"];
  const model = params.model || "mock/aggregate";
  const summarizer = Agent.new({ name: "aggregator", model,
    systemPrompt: "Combine page summaries into one paragraph.",
    responses: model.startsWith("mock/") ? ["Four pages on clean energy: solar, wind, heat pumps and batteries."] : undefined });

  const scrape = Workflow.mapReduce({
    name: "scrape",
    items: pages,
    maxConcurrency: 4,
    map: Workflow.sequential({ name: "page", steps: [
      { name: "fetch", tool: "http_client", input: { url: base + "{{input}}", timeout: 5 },
        output: "page", retry: { attempts: 2, backoff: 0.1 } },
      { name: "extract", run: (ctx) => {
          const html = ctx.page.result.body;
          const m = html.match(/<title>(.*?)<\/title>/);
          const text = html.replace(/<[^>]+>/g, " ").replace(/\s+/g, " ");
          return { url: ctx.input, status: ctx.page.result.status, title: m ? m[1] : "?",
                   words: Math.floor(text.length / 6) };
        } },
    ] }),
    reduce: (results) => results.sort((a, b) => (a.url < b.url ? -1 : 1)),
  });

  const res = await scrape.execute();
  const titles = [];
  for (const p of res.output) {
    print(`${p.url.padEnd(12)} ${p.status}  ${p.title.padEnd(22)} ~${p.words} words`);
    titles.push(p.title);
  }
  print("aggregate: " + await summarizer.chat("Titles: " + titles.join("; ")));
}
