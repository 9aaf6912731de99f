-- storage_counter.lua: state that survives runs, namespaces, and all-or-nothing transactions.
--   llmspell run spells/storage_counter.lua     (run it twice: the count goes up)
local runs = (Storage.get("demo:runs") or 0) + 1
Storage.set("demo:runs", runs)
print("this spell has run " .. runs .. " time(s)")

local inventory = Storage.namespace("inventory")
inventory.set_batch({ apples = 5, pears = 2 })

-- A transfer that fails half-way changes nothing.
local ok, err = pcall(Storage.transaction, function(tx)
  tx.set("demo:apples_sold", 5)
  error({ code = 6002, message = "till is offline" })
end)
print("transaction failed: " .. tostring(not ok) .. " (" .. err.message .. "); apples_sold = "
      .. tostring(Storage.get("demo:apples_sold")))

-- The same transfer that succeeds applies every write together.
inventory.transaction(function(tx)
  tx.set("apples", tx.get("apples") - 3)
  tx.set("sold", 3)
end)
local keys = inventory.list()
local parts = {}
for _, k in ipairs(keys) do parts[#parts + 1] = k .. "=" .. inventory.get(k) end
print("inventory: " .. table.concat(parts, ", "))
