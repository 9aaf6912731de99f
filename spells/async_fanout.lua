-- async_fanout.lua: overlapping work with Async.all, race, timeout and retry.
--   llmspell run spells/async_fanout.lua
local t0 = os.clock()
local started = os.time()
local jobs = {}
for i = 1, 10 do
  jobs[i] = function()
    Async.sleep(0.2)                               -- stands in for a slow API call
    return Tools.get("calculator"):execute({ expression = i .. " ^ 2" }).result
  end
end
local squares = Async.all(jobs)
print("squares: " .. table.concat(squares, " "))

local winner = Async.race({
  function() Async.sleep(0.3) return "slow mirror" end,
  function() Async.sleep(0.05) return "fast mirror" end,
})
print("race winner: " .. winner)

local ok, err = pcall(Async.timeout, 0.1, function() Async.sleep(5) end)
print("timeout: " .. tostring(err))

local attempts = 0
local v = Async.retry(function()
  attempts = attempts + 1
  if attempts < 3 then error("temporary failure") end
  return "succeeded"
end, { attempts = 5, backoff = 0.01 })
print(v .. " after " .. attempts .. " attempts")
