// llmspell JavaScript prelude: builds the spell globals of one QuickJS runtime
// from the API declaration (`__decls`), the same list the Lua prelude uses.
//
// Host functions are captured here and removed from globalThis. Calls into
// Python return [ok, value] envelopes; a failure becomes an LLMSpellError.
// Python calls back into JS through the job pump (see `pump`).
(function () {
  "use strict";
  const G = globalThis;
  const host = {
    call: G.__call, callEager: G.__call_eager, await: G.__await, nextJob: G.__next_job, jobDone: G.__job_done,
    mainDone: G.__main_done, viewGet: G.__view_get, viewKeys: G.__view_keys,
    sleep: G.__sleep, write: G.__write,
  };
  const decls = G.__decls;
  for (const k of ["__call", "__call_eager", "__await", "__next_job", "__job_done", "__main_done", "__view_get",
                   "__view_keys", "__sleep", "__write", "__decls"]) {
    delete G[k];
  }

  // -- errors -----------------------------------------------------------------
  class LLMSpellError extends Error {
    constructor(fields) {
      super(fields.message);
      this.name = "LLMSpellError";
      for (const k of ["code", "type", "category", "recoverable", "suggestions", "source", "details"]) {
        if (fields[k] !== undefined) this[k] = fields[k];
      }
      if (!this.suggestions) this.suggestions = [];
    }
    toString() { return `[${this.code} ${this.type}] ${this.message}`; }
  }
  G.LLMSpellError = LLMSpellError;

  // "file:line" of the nearest spell frame in a stack.
  function whereFrom(stack) {
    for (const line of String(stack || "").split("\n")) {
      const m = line.match(/\(?([^\s()]+):(\d+):\d+\)?\s*$/);
      if (m && m[1] !== "prelude.js" && m[1] !== "eval_script" && m[1] !== "boot") return `${m[1]}:${m[2]}`;
    }
    return undefined;
  }

  function toErr(e) {
    if (e instanceof LLMSpellError) {
      return { code: e.code, type: e.type, message: e.message, category: e.category,
               recoverable: e.recoverable, suggestions: e.suggestions, source: e.source || whereFrom(e.stack),
               details: e.details };
    }
    if (e instanceof Error) {
      const type = e.name === "SyntaxError" ? "SyntaxError" : "RuntimeError";
      return { code: e.name === "SyntaxError" ? 4001 : 4002, type, message: e.message || String(e),
               category: "script", recoverable: false, suggestions: [], source: whereFrom(e.stack) };
    }
    if (e && typeof e === "object" && e.code !== undefined) {
      return Object.assign({ type: "Error", category: "script", suggestions: [] }, wrap(e));
    }
    return { code: 4002, type: "RuntimeError", message: String(e), category: "script",
             recoverable: false, suggestions: [] };
  }

  const camel = (s) => s.replace(/_([a-z])/g, (_, c) => c.toUpperCase());

  // -- values across the boundary ------------------------------------------------
  // function 0 answers Python's liveness probe; it fails when the heap is nearly full
  const fns = new Map([[0, () => new ArrayBuffer(1 << 20).byteLength]]);
  let nextFn = 1;
  const fnIds = new WeakMap();
  function fnId(f) {
    let id = fnIds.get(f);
    if (id === undefined) { id = nextFn++; fnIds.set(f, id); fns.set(id, f); }
    return id;
  }

  // JS → Python: functions become ids, objects from Python go back as handles.
  function wrap(v, depth = 0) {
    if (v === null || v === undefined) return null;
    const t = typeof v;
    if (t === "function") return { __fn: fnId(v) };
    if (t !== "object") return v;
    if (depth > 100) throw new LLMSpellError({ code: 4002, type: "RuntimeError",
      message: "cannot convert a value that contains itself or is nested over 100 deep" });
    if (v.__handle !== undefined) return { __handle: v.__handle };
    if (v.__view !== undefined) return { __view: v.__view };
    if (v instanceof Error) return Object.assign({ __error: true }, toErr(v));
    if (Array.isArray(v)) return v.map((x) => wrap(x, depth + 1));
    const out = {};
    for (const k of Object.keys(v)) {
      const x = v[k];
      if (x !== undefined) out[k] = wrap(x, depth + 1);
    }
    return out;
  }

  const classes = {};
  const viewHandler = {
    get(target, key) {
      if (typeof key !== "string") return undefined;
      if (key === "__view") return target.__view;
      if (!(key in target.cache)) target.cache[key] = unwrap(host.viewGet(target.__view, key));
      return target.cache[key];
    },
    has(target, key) { return host.viewKeys(target.__view).includes(key); },
    ownKeys(target) { return host.viewKeys(target.__view); },
    getOwnPropertyDescriptor(target, key) {
      return { value: this.get(target, key), enumerable: true, configurable: true };
    },
    set() { throw new TypeError("this context object is read-only"); },
  };

  // Python → JS: handles become objects with methods, views become Proxies.
  function unwrap(v) {
    if (v === null || typeof v !== "object") return v;
    if (Array.isArray(v)) return v.map(unwrap);
    if (v.__class !== undefined) return makeObject(v);
    if (v.__view !== undefined) return new Proxy({ __view: v.__view, cache: {} }, viewHandler);
    if (v.__err !== undefined) return new LLMSpellError(v.__err);
    if (v.__fnref !== undefined) return fns.get(v.__fnref);
    const out = {};
    let sig = null;
    for (const k of Object.keys(v)) {
      out[k] = unwrap(v[k]);
      if (k.indexOf("_") > 0) sig = sig === null ? k : sig + "," + k;
    }
    return sig === null ? out : Object.setPrototypeOf(out, aliasProto(sig));
  }

  // camelCase aliases as getters on a prototype shared by objects with the same
  // snake_case keys: not enumerated, so JSON output matches Lua's.
  const aliasProtos = new Map();
  function aliasProto(sig) {
    let proto = aliasProtos.get(sig);
    if (!proto) {
      proto = {};
      for (const k of sig.split(",")) {
        Object.defineProperty(proto, camel(k), { get() { return this[k]; }, enumerable: false });
      }
      aliasProtos.set(sig, proto);
    }
    return proto;
  }

  function makeObject(raw) {
    const obj = {};
    for (const k of Object.keys(raw)) if (k !== "__class") obj[k] = unwrap(raw[k]);
    Object.defineProperty(obj, "__class", { value: raw.__class, enumerable: false });
    const methods = classes[raw.__class] || {};
    for (const name of Object.keys(methods)) {
      const f = methods[name];
      const bound = (...a) => f(raw.__handle, ...a);
      Object.defineProperty(obj, name, { value: bound, enumerable: false });
    }
    Object.defineProperty(obj, "toString", {
      value: () => `${raw.__class}(${obj.name !== undefined ? obj.name : raw.__handle})`, enumerable: false });
    return obj;
  }

  // A value that cannot cross into Python (a lone surrogate, a Symbol, …) fails
  // inside the host before the API function runs: name what was wrong.
  function crossing(name, site, thunk) {
    try {
      return thunk();
    } catch (e) {
      const m = String((e && e.message) || "").match(/^host function failed: (\w+)/);
      if (!m) throw e;
      const what = m[1] === "ValueError" ? "text that is not valid Unicode (a lone surrogate)"
        : m[1] === "TypeError" ? "a value of a type the API does not take (a Symbol, a BigInt, …)"
        : `a value the host refused (${m[1]})`;
      throw new LLMSpellError({ code: 4002, type: "RuntimeError", category: "script", recoverable: false,
                                message: `${name}: cannot pass ${what}`, suggestions: [],
                                source: whereFrom(site || new Error().stack) });
    }
  }
  const LONE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
  const wellFormed = (t) => t.replace(LONE, "\ufffd");

  function check(r) {
    if (r[0]) return unwrap(r[1]);
    const err = new LLMSpellError(r[1]);
    if (!err.source) err.source = whereFrom(new Error().stack);
    throw err;
  }

  function syncFn(idx, name) {
    return (...a) => check(crossing(name, null, () => host.call(idx, a.map((x) => wrap(x)))));
  }
  // Async calls start at once on the host; most finish there and then (no
  // event-loop round trip), the rest are awaited through a token.
  function asyncFn(idx, name) {
    return (...a) => {
      let r;
      try {
        r = crossing(name, null, () => host.callEager(idx, a.map((x) => wrap(x))));
      } catch (e) {
        return Promise.reject(e);
      }
      if (r[0] === 1) return Promise.resolve(unwrap(r[1]));
      const site = new Error().stack;
      const fail = (info) => {
        const err = new LLMSpellError(info);
        if (!err.source) err.source = whereFrom(site);
        return err;
      };
      if (r[0] === 0) return Promise.reject(fail(r[1]));
      return host.await(r[1]).then((res) => {
        if (res[0]) return unwrap(res[1]);
        throw fail(res[1]);
      });
    };
  }

  const modules = {};
  for (const d of decls) {
    // every waiting call is a Promise in JS, whether or not Python awaits
    const name = d.owner ? `${d.owner}.${camel(d.name)}` : camel(d.name);
    const base = d.is_async ? asyncFn(d.index, name) : syncFn(d.index, name);
    // the executor runs at once, so an error still names the caller's line
    const f = d.waits && !d.is_async ? (...a) => new Promise((res) => res(base(...a))) : base;
    if (d.is_method) {
      classes[d.owner] = classes[d.owner] || {};
      classes[d.owner][camel(d.name)] = f;
      if (camel(d.name) !== d.name) classes[d.owner][d.name] = f;
    } else if (d.owner === "") {
      G[d.name] = f;
    } else {
      // extend a built-in of the same name (JSON) instead of replacing it
      const existing = G[d.owner] && typeof G[d.owner] === "object" ? G[d.owner] : {};
      const ns = (modules[d.owner] = modules[d.owner] || existing);
      ns[camel(d.name)] = f;
      if (camel(d.name) !== d.name) ns[d.name] = f;
      G[d.owner] = ns;
    }
  }

  // print(...) and console.* format like console.log in any JS runtime.
  function fmt(v) {
    if (typeof v === "string") return v;
    if (v instanceof LLMSpellError) return v.toString();
    if (v instanceof Error) return `${v.name}: ${v.message}`;
    if (v === undefined) return "undefined";
    if (typeof v === "function") return "[Function]";
    if (v !== null && typeof v === "object") {
      try { return JSON.stringify(v); } catch (e) { return String(v); }
    }
    return String(v);
  }
  const rawPrint = G.print;
  G.print = (...a) => rawPrint(a.map(fmt).join(" "));
  const ioWrite = G.io_write;
  G.ioWrite = G.io_write = (...a) => ioWrite(a.map(fmt).join(""));
  G.console = {
    log: (...a) => rawPrint(wellFormed(a.map(fmt).join(" "))),
    info: (...a) => rawPrint(wellFormed(a.map(fmt).join(" "))),
    debug: (...a) => rawPrint(wellFormed(a.map(fmt).join(" "))),
    warn: (...a) => host.write(wellFormed(a.map(fmt).join(" ")) + "\n", true),
    error: (...a) => host.write(wellFormed(a.map(fmt).join(" ")) + "\n", true),
  };

  // setTimeout/clearTimeout on the host's event loop.
  let timerSeq = 0;
  const timers = new Set();
  G.setTimeout = (fn, ms = 0, ...a) => {
    const id = ++timerSeq;
    timers.add(id);
    host.sleep(Math.max(0, Number(ms) || 0) / 1000).then(() => { if (timers.delete(id)) fn(...a); });
    return id;
  };
  G.clearTimeout = (id) => { timers.delete(id); };

  if (G.ErrorHandler) {
    const parse = G.ErrorHandler.parseError;
    G.ErrorHandler.parseError = G.ErrorHandler.parse_error = (e) => parse(e instanceof Error ? toErr(e) : e);
  }
  G.__llmspell_modules = modules;

  // The job pump: Python asks for JS functions to be called; each runs
  // concurrently and reports back. Returns when Python closes the pump.
  // If an error cannot even be reported (the heap is full), the whole evaluation
  // fails with it, so Python sees it at once instead of waiting forever.
  let fatal;
  const fatalP = new Promise((_, reject) => { fatal = reject; });
  function report(done, id, e) {
    let info;
    try { info = toErr(e); done(id, false, info); } catch (_) { fatal(e); }
  }

  // Several calls of one function in order (event deliveries); one error slot each.
  async function runBatch(jid, fid, calls) {
    const errors = [];
    const f = fns.get(fid);
    for (const args of calls) {
      try { await f(...unwrap(args)); errors.push(null); } catch (e) { errors.push(toErr(e)); }
    }
    try { host.jobDone(jid, true, errors); } catch (e) { fatal(e); }
  }

  async function pump() {
    for (;;) {
      const job = await host.nextJob();
      if (job === null) return;
      const [jid, fid, args] = job;
      if (fid === -1) { runBatch(jid, args[0], args[1]); continue; }
      Promise.resolve()
        .then(() => {
          const f = fns.get(fid);
          if (!f) throw new LLMSpellError({ code: 6009, type: "InternalError", message: `no function ${fid}` });
          return f(...unwrap(args));
        })
        .then((v) => host.jobDone(jid, true, wrap(v)))
        .catch((e) => report(host.jobDone, jid, e));
    }
  }

  G.__llmspell = {
    // A console input: a sloppy global script (so `x = 1` persists); inputs
    // that use await run in an async function instead.
    async repl(src) {
      const indirect = eval;
      if (/\bawait\b/.test(src)) {
        try { return await indirect("(async () => (" + src + "\n))()"); } catch (e) {
          if (!(e instanceof SyntaxError)) throw e;
        }
        return await indirect("(async () => { " + src + "\n })()");
      }
      return indirect(src);
    },
    boot(load) {
      const main = Promise.resolve()
        .then(load)
        .then((v) => host.mainDone(true, wrap(v)))
        .catch((e) => report((_, ok, info) => host.mainDone(ok, info), 0, e));
      return Promise.race([Promise.all([pump(), main]), fatalP]);
    },
  };
})();
