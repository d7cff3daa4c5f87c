// The protocol engine: Peercam's Go protocol package compiled to
// WebAssembly (viewer/web/wasm). Every call returns a parsed object; a
// failure is thrown as an EngineError with the engine's sentence and code.

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

async function start() {
  if (typeof Go === 'undefined') throw new Error('wasm_exec.js did not load');
  const go = new Go();
  const ready = new Promise((resolve) => { globalThis.peercamReady = resolve; });
  const resp = fetch('peercam.wasm');
  let inst;
  try {
    inst = await WebAssembly.instantiateStreaming(resp, go.importObject);
  } catch (e) {
    // A server or cache that lost the content type: compile from bytes.
    const bytes = await (await fetch('peercam.wasm')).arrayBuffer();
    inst = await WebAssembly.instantiate(bytes, go.importObject);
  }
  go.run(inst.instance);
  await ready;
  const raw = globalThis.peercam;
  const call = (name) => (...args) => {
    const r = JSON.parse(raw[name](...args));
    if (r.error) throw new EngineError(r);
    return r;
  };
  const api = {};
  for (const name of ['checkID', 'openMessage', 'opened', 'derive', 'useKeys', 'hello', 'receive', 'setPassword', 'close']) {
    api[name] = call(name);
  }
  api.protocolVersion = raw.protocolVersion;
  return api;
}
