// The service worker keeps the app shell, so the viewer starts at once
// (and offline, to say so). The server puts the build's version below: a
// new build is a new cache, and the old one is deleted.
const VERSION = '__VERSION__';
const CACHE = `peercam-${VERSION}`;
const SHELL = [
  './', 'index.html', 'app.js', 'engine.js', 'login.js', 'playback.js', 'timeline.js', 'derive.js', 'style.css', 'wasm_exec.js', 'peercam.wasm',
  'manifest.webmanifest', 'icons/favicon.png', 'icons/icon-192.png', 'icons/icon-512.png',
];

self.addEventListener('install', (ev) => {
  ev.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (ev) => {
  ev.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k.startsWith('peercam-') && k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

self.addEventListener('fetch', (ev) => {
  const req = ev.request;
  const url = new URL(req.url);
  if (req.method !== 'GET' || url.origin !== self.location.origin) return;
  if (url.pathname.endsWith('/config.json')) {
    // Fresh when the server is there, the last copy when it is not.
    ev.respondWith(fetch(req).then((resp) => {
      const copy = resp.clone();
      caches.open(CACHE).then((c) => c.put(req, copy));
      return resp;
    }).catch(() => caches.match(req)));
    return;
  }
  ev.respondWith(caches.match(req, { ignoreSearch: true }).then((hit) => hit || fetch(req)));
});
