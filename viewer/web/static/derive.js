// A worker that derives the password keys (argon2id) with its own instance
// of the protocol engine, so the page is not frozen for seconds. The page
// sends the compiled module, the camera ID, its signed login parameters and
// the password; the worker answers {w0, w1, digest} or {error, code} once.
importScripts('wasm_exec.js');

onmessage = async (ev) => {
  const { module, id, login, password } = ev.data;
  try {
    const go = new Go();
    const ready = new Promise((resolve) => { self.peercamReady = resolve; });
    const instance = await WebAssembly.instantiate(module, go.importObject);
    go.run(instance);
    await ready;
    postMessage(JSON.parse(self.peercam.deriveKeys(id, login, password)));
  } catch (e) {
    postMessage({ error: String(e && e.message || e), code: 'worker' });
  }
};
