// storage_counter.js: state that survives runs, namespaces, and all-or-nothing transactions.
//   llmspell run spells/storage_counter.js     (run it twice: the count goes up)
const runs = ((await Storage.get("demo:runs")) || 0) + 1;
await Storage.set("demo:runs", runs);
print("this spell has run " + runs + " time(s)");

const inventory = Storage.namespace("inventory");
await inventory.setBatch({ apples: 5, pears: 2 });

// A transfer that fails half-way changes nothing.
let failed = false, message = "";
try {
  await Storage.transaction((tx) => {
    tx.set("demo:apples_sold", 5);
    throw { code: 6002, message: "till is offline" };
  });
} catch (e) {
  failed = true;
  message = e.message;
}
print(`transaction failed: ${failed} (${message}); apples_sold = ${(await Storage.get("demo:apples_sold")) ?? "nil"}`);

// The same transfer that succeeds applies every write together.
await inventory.transaction((tx) => {
  tx.set("apples", tx.get("apples") - 3);
  tx.set("sold", 3);
});
const parts = [];
for (const k of await inventory.list()) parts.push(k + "=" + (await inventory.get(k)));
print("inventory: " + parts.join(", "));
