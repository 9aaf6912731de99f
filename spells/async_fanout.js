// async_fanout.js: overlapping work with Async.all, race, timeout and retry.
// (Promise.all works the same way.)
//   llmspell run spells/async_fanout.js
const jobs = [];
for (let i = 1; i <= 10; i++) {
  jobs.push(async () => {
    await Async.sleep(0.2);                            // stands in for a slow API call
    return (await Tools.get("calculator").execute({ expression: i + " ^ 2" })).result;
  });
}
const squares = await Async.all(jobs);
print("squares: " + squares.join(" "));

const winner = await Async.race([
  async () => { await Async.sleep(0.3); return "slow mirror"; },
  async () => { await Async.sleep(0.05); return "fast mirror"; },
]);
print("race winner: " + winner);

try {
  await Async.timeout(0.1, () => Async.sleep(5));
} catch (err) {
  print("timeout: " + err);
}

let attempts = 0;
const v = await Async.retry(() => {
  attempts += 1;
  if (attempts < 3) throw new Error("temporary failure");
  return "succeeded";
}, { attempts: 5, backoff: 0.01 });
print(v + " after " + attempts + " attempts");
