// The protocol engine: Peercam's Go protocol package compiled to
// WebAssembly (viewer/web/wasm). Every call returns a parsed object; a
// failure is thrown as an EngineError with the engine's sentence and code.
// The password derivation (argon2id, seconds on a phone) runs in a worker
// with its own instance of the same module, so the page stays responsive.

export class EngineError extends Error {
  constructor(r) {
    super(r.error);
    this.code = r.code || '';
    this.retryAfterMs = r.retry_after_ms || 0;
  }
}

let loading = null;

// load starts the engine once and resolves to its functions.
export function load() {
  if (!loading) loading = start();
  return loading;
}

async function compile() {
  try {
    return await WebAssembly.compileStreaming(fetch('peercam.wasm'));
  } catch {
    // A server or cache that lost the content type: compile from bytes.
    const resp = await fetch('peercam.wasm');
    if (!resp.ok) throw new Error(`peercam.wasm: ${resp.status} ${resp.statusText}`);
    return WebAssembly.compile(await resp.arrayBuffer());
  }
}

async function start() {
  if (typeof Go === 'undefined') throw new Error('wasm_exec.js did not load');
  const module = await compile();
  const go = new Go();
  const ready = new Promise((resolve) => { globalThis.peercamReady = resolve; });
  const instance = await WebAssembly.instantiate(module, go.importObject);
  go.run(instance);
  await ready;
  const raw = globalThis.peercam;
  const call = (name) => (...args) => {
    const r = JSON.parse(raw[name](...args));
    if (r.error) throw new EngineError(r);
    return r;
  };
  const api = { module };
  for (const name of ['checkID', 'openMessage', 'opened', 'deriveKeys', 'useKeys', 'hello', 'receive', 'setPassword', 'close']) {
    api[name] = call(name);
  }
  api.protocolVersion = raw.protocolVersion;
  // deriveKeys in a worker: resolves to {w0, w1, digest}.
  api.deriveInWorker = (id, login, password) => deriveInWorker(module, id, login, password, api);
  return api;
}

function deriveInWorker(module, id, login, password, api) {
  let worker;
  try {
    worker = new Worker('derive.js');
  } catch {
    return Promise.resolve().then(() => api.deriveKeys(id, JSON.stringify(login), password));
  }
  return new Promise((resolve, reject) => {
    worker.onmessage = (ev) => {
      worker.terminate(); // gives back argon2id's 64 MiB at once
      const r = ev.data;
      if (r.error) reject(new EngineError(r)); else resolve(r);
    };
    worker.onerror = (ev) => {
      worker.terminate();
      reject(new Error(`the password worker failed: ${ev.message || 'unknown error'}`));
    };
    worker.postMessage({ module, id, login: JSON.stringify(login), password });
  });
}
