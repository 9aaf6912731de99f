-- llmspell Lua prelude: builds the sandboxed environment of one spell runtime.
--
-- Runs once per LuaRuntime with the full standard library, captures what it
-- needs as upvalues, and hands back a sandbox `env` in which spells run. The
-- spell never sees `os`, `io`, `debug`, `package`, `python`, `dofile`,
-- `loadfile`, `string.dump` or binary chunks.
local host = ...

local co_create, co_resume, co_yield, co_status =
  coroutine.create, coroutine.resume, coroutine.yield, coroutine.status
local sethook, getinfo, traceback = debug.sethook, debug.getinfo, debug.traceback
local dgetmt = debug.getmetatable        -- sees through __metatable, for the prelude's own checks
local raw_pcall, raw_xpcall, raw_error, raw_load = pcall, xpcall, error, load
local raw_setmetatable, raw_getmetatable, raw_type, raw_select = setmetatable, getmetatable, type, select
local raw_tostring, raw_rawget, raw_pairs = tostring, rawget, pairs
local pack, unpack, concat = table.pack, table.unpack, table.concat
local sfind, ssub, smatch = string.find, string.sub, string.match

local host_call, host_check, host_module = host.call, host.check, host.load_module
local HOOK_EVERY = host.hook_every or 10000

-- marks a yield that asks the driver to wait; the per-runtime secret keeps a spell
-- from forging one (and calling into the host past the wrappers below)
local REQ = "\0llmspell:wait:" .. host.req_secret
local FATAL = raw_setmetatable({}, { __mode = "k" })   -- error tables that end the run
local M = {}

-- Error objects ------------------------------------------------------------
-- Every metatable the prelude shares between objects is locked (`__metatable`):
-- a spell can neither read nor change it, so it cannot plant __gc or __call code
-- that runs where no time limit applies.
local ErrorMT = {
  __tostring = function(e)
    return "[" .. raw_tostring(e.code) .. " " .. raw_tostring(e.type) .. "] " .. raw_tostring(e.message)
  end,
  __metatable = false,
}
local function make_error(t)
  if dgetmt(t) == ErrorMT then return t end
  return raw_setmetatable(t, ErrorMT)
end
M.make_error = make_error

-- "file:line" of the nearest spell frame at or above `level` (C frames, the
-- prelude and tail calls leave no line, so look further up).
local function where(level)
  local l = level + 1
  while true do
    local info = getinfo(l, "Sl")
    if not info then return nil end
    if info.currentline and info.currentline > 0 and info.short_src ~= "prelude" then
      return info.short_src .. ":" .. info.currentline
    end
    l = l + 1
  end
end

local function fatal(code, typ, message)
  local e = make_error({ code = code, type = typ, message = message, category = "script",
                         recoverable = false, suggestions = {} })
  FATAL[e] = true
  return e
end

local function is_fatal(e)
  if raw_type(e) == "table" then return FATAL[e] == true end
  if raw_type(e) == "string" then return sfind(e, "not enough memory", 1, true) ~= nil end
  return false
end

-- Instruction hook: time limit that also holds in coroutines ---------------
-- `expired` latches the limit's error so nothing can swallow it; a resident
-- spell's jobs each have their own limit (host_check asks about the one running
-- now), so a latch from one job is dropped when the work running is not over.
local expired = nil
local function hook()
  if host_check() then
    expired = expired or fatal(4004, "ExecutionTimeout", host.timeout_message())
    raw_error(expired, 0)
  end
end
local function still_expired()
  if expired and not host_check() then expired = nil end
  return expired
end
local function arm() sethook(hook, "", HOOK_EVERY) end
M.arm = arm
-- A resident spell (the daemon) runs many jobs with a limit each: start afresh.
function M.reset_limit() expired = nil end

-- Bridge calls --------------------------------------------------------------
-- A Python call returns ok, value; a waiting call yields REQ to the driver,
-- which resumes us with ok, value. Errors are raised here, at the call site.
local function raise(err, level)
  if raw_type(err) == "table" then
    if err.source == nil then err.source = where(level + 1) end
    make_error(err)
  end
  raw_error(err, 0)
end

-- A host call that failed before the API function ran (its arguments could not
-- cross, e.g. text that is not UTF-8) raised a host object: never hand that to
-- the spell. It becomes a plain error table; the limits' errors pass unchanged.
local function host_failure(name, e)
  if is_fatal(e) then raw_error(e, 0) end
  local msg = raw_type(e) == "string" and e or "the call could not be made"
  if raw_type(e) ~= "string" then
    local ok, text = raw_pcall(raw_tostring, e)
    if ok and raw_type(text) == "string" then msg = text end
  end
  if sfind(msg, "codec can't decode", 1, true) then msg = "text is not valid UTF-8 (" .. msg .. ")" end
  return { code = 4002, type = "RuntimeError", message = name .. ": " .. msg, category = "script",
           recoverable = false, suggestions = {} }
end

-- Call a host function with the same protection (for the prelude's own host calls).
local function protected(name, f)
  return function(...)
    local r = pack(raw_pcall(f, ...))
    if not r[1] then raise(host_failure(name, r[2]), 2) end
    return unpack(r, 2, r.n)
  end
end

local function sync_fn(idx, name)
  return function(...)
    local done, ok, v = raw_pcall(host_call, idx, ...)
    if not done then raise(host_failure(name, ok), 2) end
    if ok then return v end
    raise(v, 2)
  end
end

local function wait_fn(idx)
  return function(...)
    local ok, v = co_yield(REQ, idx, ...)
    if ok then return v end
    raise(v, 2)
  end
end

-- Objects: a table of fields plus methods that accept dot or colon calls.
local ObjectMT = {}
local classes = {}
local function new_object(cls, handle, fields)
  local obj = fields or {}
  obj.__handle = handle
  obj.__class = cls
  local methods = classes[cls]
  if methods then
    for name, f in raw_pairs(methods) do
      obj[name] = function(a, ...)
        if a == obj then return f(handle, ...) end
        return f(handle, a, ...)
      end
    end
  end
  local mt = ObjectMT[cls]
  if not mt then
    mt = { __tostring = function(o) return cls .. "(" .. raw_tostring(o.name or o.__handle) .. ")" end,
           __metatable = false }
    ObjectMT[cls] = mt
  end
  return raw_setmetatable(obj, mt)
end
M.new_object = new_object

-- Lazy views: a read-only proxy whose keys are fetched from Python on first use.
local host_view_get = protected("context", host.view_get)
local host_view_keys = protected("context", host.view_keys)
local ViewMT = {
  __index = function(t, k)
    local v = host_view_get(raw_rawget(t, "__view"), k)
    if v ~= nil then rawset(t, k, v) end
    return v
  end,
  __newindex = function() raw_error("this context table is read-only", 2) end,
  __pairs = function(t)
    local keys = host_view_keys(raw_rawget(t, "__view"))
    local i = 0
    return function()
      i = i + 1
      local k = keys[i]
      if k ~= nil then return k, t[k] end
    end
  end,
  __metatable = false,
}
function M.new_view(handle)
  return raw_setmetatable({ __view = handle }, ViewMT)
end

-- The sandbox ----------------------------------------------------------------
local env = {}
M.env = env

for _, name in ipairs({ "assert", "ipairs", "next", "pairs", "rawequal", "rawget", "rawlen",
                        "rawset", "select", "tonumber", "tostring", "type" }) do
  env[name] = _G[name]
end
-- Only tables and strings have metatables a spell may see (and locked ones, the
-- string one included, show `false`); never a host object's.
env.getmetatable = function(v)
  local t = raw_type(v)
  if t == "table" or t == "string" then return raw_getmetatable(v) end
  return nil
end
env.error = raw_error
env._VERSION = _VERSION

local function copy(t)
  local c = {}
  for k, v in raw_pairs(t) do c[k] = v end
  return c
end
env.string = copy(string); env.string.dump = nil
env.table = copy(table)
env.math = copy(math)
env.utf8 = copy(utf8)
env.os = { time = os.time, clock = os.clock, date = os.date, difftime = os.difftime }
-- Hide the real string library behind the string metatable.
raw_getmetatable("").__metatable = false

env.setmetatable = function(t, mt)
  if raw_type(mt) == "table" and raw_rawget(mt, "__gc") ~= nil then
    raw_error("setmetatable: __gc metamethods are not allowed in spells", 2)
  end
  return raw_setmetatable(t, mt)
end

env.collectgarbage = function(opt)
  if opt == nil or opt == "collect" or opt == "count" or opt == "step" then
    return collectgarbage(opt)
  end
  raw_error("collectgarbage: option '" .. raw_tostring(opt) .. "' is not allowed", 2)
end

-- pcall/xpcall cannot catch the time or memory limit. Once the time is up,
-- whatever a protected call returns (a to-be-closed handler may have replaced
-- the limit's error with its own, or swallowed it) the limit's error goes on.
env.pcall = function(f, ...)
  local r = pack(raw_pcall(f, ...))
  if still_expired() then raw_error(expired, 0) end
  if not r[1] and is_fatal(r[2]) then raw_error(r[2], 0) end
  return unpack(r, 1, r.n)
end
env.xpcall = function(f, handler, ...)
  local r = pack(raw_xpcall(f, function(e)
    if is_fatal(e) or still_expired() then return e end
    return handler(e)
  end, ...))
  if still_expired() then raw_error(expired, 0) end
  if not r[1] and is_fatal(r[2]) then raw_error(r[2], 0) end
  return unpack(r, 1, r.n)
end

-- Text chunks only, and always in the sandbox. A reader function is called
-- here, in the spell's own (limited) code, never inside load's protected reader.
env.load = function(chunk, name, mode, cenv)
  if mode ~= nil and mode ~= "t" then
    return nil, "load: only text chunks are allowed (mode 't')"
  end
  if raw_type(chunk) == "function" then
    local parts = {}
    while true do
      local piece = chunk()
      if piece == nil or piece == "" then break end
      if raw_type(piece) ~= "string" then return nil, "load: reader function must return a string" end
      parts[#parts + 1] = piece
    end
    chunk = concat(parts)
  end
  if raw_type(chunk) == "string" and ssub(chunk, 1, 1) == "\27" then
    return nil, "load: binary chunks are not allowed"
  end
  return raw_load(chunk, name, "t", cenv or env)
end

-- Coroutines: every one gets the instruction hook, and a bridge call made
-- inside one travels up to the driver and back transparently.
local function resume(co, ...)
  local r = pack(co_resume(co, ...))
  while r[1] and r[2] == REQ and co_status(co) == "suspended" do
    r = pack(co_resume(co, co_yield(unpack(r, 2, r.n))))
  end
  if still_expired() then raw_error(expired, 0) end
  if not r[1] and is_fatal(r[2]) then raw_error(r[2], 0) end
  return unpack(r, 1, r.n)
end
local cor = copy(coroutine)
cor.create = function(f)
  if raw_type(f) ~= "function" then raw_error("coroutine.create: expected a function", 2) end
  return co_create(function(...) arm(); return f(...) end)
end
cor.resume = resume
cor.wrap = function(f)
  local co = cor.create(f)
  return function(...)
    local r = pack(resume(co, ...))
    if not r[1] then raw_error(r[2], 0) end
    return unpack(r, 2, r.n)
  end
end
env.coroutine = cor

-- print goes through the host so embedding can capture it.
local host_print
env.print = function(...)
  local n = raw_select("#", ...)
  local parts = {}
  for i = 1, n do parts[i] = raw_tostring((raw_select(i, ...))) end
  host_print(concat(parts, "\t"))
end

-- Install the declared API ------------------------------------------------
local modules = {}
function M.install(decls)
  for _, d in ipairs(decls) do
    local public = d.owner == "" and d.name or (d.owner .. (d.is_method and ":" or ".") .. d.name)
    local f = d.is_async and wait_fn(d.index) or sync_fn(d.index, public)
    if d.is_method then
      classes[d.owner] = classes[d.owner] or {}
      classes[d.owner][d.name] = f
    elseif d.owner == "" then
      if d.name == "print" then host_print = f else env[d.name] = f end
    else
      env[d.owner] = env[d.owner] or {}
      env[d.owner][d.name] = f
      modules[d.owner] = env[d.owner]
    end
  end
  local all = {}
  for name, t in raw_pairs(modules) do all[name] = t end
  for _, name in ipairs({ "log", "print" }) do all[name] = env[name] end
  modules.__all = all
end

-- Lua-side sugar over the declared functions.
function M.sugar()
  local Tools, Storage = env.Tools, env.Storage
  if env.ErrorHandler then
    local parse = env.ErrorHandler.parse_error
    env.ErrorHandler.parse_error = function(e)
      if raw_type(e) == "table" and dgetmt(e) == ErrorMT then return e end
      return parse(e)
    end
  end
end

-- require: llmspell modules and sandboxed modules next to the spell.
local loaded = {}
env.require = function(name)
  if raw_type(name) ~= "string" then raw_error("require: module name must be a string", 2) end
  if name == "llmspell" then return modules.__all end
  local sub = smatch(name, "^llmspell%.([%w_]+)$")
  if sub then
    local lname = sub:lower():gsub("_", "")
    for gname, t in raw_pairs(modules) do
      if gname ~= "__all" and gname:lower() == lname then return t end
    end
    raw_error("require: no llmspell module '" .. name .. "'", 2)
  end
  if loaded[name] ~= nil then return loaded[name] end
  local ok, src, chunkname = protected("require", host_module)(name)
  if not ok then raise(src, 2) end
  local fn, err = raw_load(src, chunkname, "t", env)
  if not fn then raw_error(err, 0) end
  local v = fn(name)
  if v == nil then v = true end
  loaded[name] = v
  return v
end

-- Running spells -----------------------------------------------------------
function M.compile(src, chunkname)
  if ssub(src, 1, 1) == "\27" then return nil, "binary chunks are not allowed" end
  if ssub(src, 1, 2) == "#!" then src = "--" .. src end   -- shebang scripts
  return raw_load(src, chunkname, "t", env)
end

local debug_mode = host.debug
-- Normalise anything raised into an error table with a source.
local function to_error(e)
  if raw_type(e) == "table" then
    if dgetmt(e) ~= ErrorMT and e.code == nil then
      e = make_error({ code = 4002, type = "RuntimeError", message = raw_tostring(e), category = "script",
                       recoverable = false, suggestions = {} })
    end
    if e.source == nil then e.source = where(3) end
    if debug_mode and e.traceback == nil then e.traceback = traceback("", 2) end
    return e
  end
  local msg = raw_tostring(e)
  local src, rest = smatch(msg, "^([^\n]-:%d+): (.*)$")
  local code, typ = 4002, "RuntimeError"
  if sfind(msg, "not enough memory", 1, true) then
    code, typ, rest = 4005, "MemoryLimitExceeded", host.memory_message()
  end
  local err = make_error({ code = code, type = typ, message = rest or msg, source = src,
                           category = "script", recoverable = false, suggestions = {} })
  if debug_mode then err.traceback = traceback("", 2) end
  return err
end

-- The body of a driver coroutine (Python calls `.coroutine()` on it):
-- returns true, value or false, error table.
function M.spawn(fn, args)
  return (function()
    arm()
    local r = pack(raw_xpcall(fn, to_error, unpack(args or {}, 1, (args and args.n) or (args and #args) or 0)))
    if r[1] then return true, r[2] end
    return false, r[2]
  end)
end
M.REQ = REQ
M.is_fatal = is_fatal

return M
