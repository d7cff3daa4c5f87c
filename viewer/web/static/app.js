// The Peercam web viewer: the camera list, the live grid and the dialogs.
// The protocol is in login.js and the WebAssembly engine.

import { load } from './engine.js';
import { login, pathOf, endpoint, LoginError, isPlaybackTrack } from './login.js';
import { Recordings } from './timeline.js';

const $ = (sel, root = document) => root.querySelector(sel);

// ---- storage: the saved cameras keep the derived key, never the password.

const CAMERAS = 'peercam.cameras.v1';
const SETTINGS = 'peercam.settings.v1';

function loadCameras() {
  try {
    const list = JSON.parse(localStorage.getItem(CAMERAS) || '[]');
    return Array.isArray(list) ? list.filter((c) => c && typeof c.id === 'string') : [];
  } catch {
    return [];
  }
}

function saveCameras() {
  localStorage.setItem(CAMERAS, JSON.stringify(cameras));
}

function loadSettings() {
  try { return JSON.parse(localStorage.getItem(SETTINGS) || '{}') || {}; } catch { return {}; }
}

let cameras = loadCameras();
let settings = loadSettings();
let config = { rendezvous: '', version: '', built: true };

const rendezvous = () => settings.rendezvous || config.rendezvous || '';

// ---- words

function sentence(s) {
  s = String(s || '').trim();
  if (!s) return '';
  s = s[0].toUpperCase() + s.slice(1);
  return /[.!?…]$/.test(s) ? s : s + '.';
}

function showBanner(text) {
  const b = $('#banner');
  b.textContent = text ? sentence(text) : '';
  b.hidden = !text;
}

// ---- test and measurement hooks: what the browser suite reads.

const app = { views: new Map(), metrics: [], events: [], playbacks: [] };
globalThis.peercamApp = app;

// ---- one tile per camera

class View {
  constructor(cam) {
    this.cam = cam;
    this.session = null;
    this.wanted = false; // the person wants video (Watch), so reconnect
    this.retry = 0;
    this.timer = 0;
    this.statsTimer = 0;
    this.connecting = false;
    this.li = $('#tile-tpl').content.firstElementChild.cloneNode(true);
    this.video = $('video', this.li);
    this.overlay = $('.overlay', this.li);
    this.statusEl = $('.status', this.li);
    this.li.dataset.id = cam.id;
    this.video.setAttribute('aria-label', `Live video of ${cam.name}`);
    this.rename(cam.name);
    this.li.addEventListener('click', (ev) => {
      const b = ev.target.closest('button[data-act]');
      if (b) this.act(b.dataset.act, ev);
    });
    this.video.addEventListener('dblclick', () => this.fullscreen());
    this.recordings = new Recordings(this, app);
    this.setStatus('Not connected');
  }

  rename(name) {
    this.cam.name = name;
    $('.name', this.li).textContent = name;
    this.video.setAttribute('aria-label', `Live video of ${name}`);
    for (const b of this.li.querySelectorAll('button[data-act]')) {
      b.setAttribute('aria-label', `${b.textContent} ${name}`);
    }
  }

  setStatus(text, overlay) {
    this.statusEl.textContent = text;
    this.overlay.textContent = overlay === undefined ? text : overlay;
    this.overlay.hidden = !this.overlay.textContent;
    // Said once on screen (over the picture); screen readers still read the
    // status line.
    this.statusEl.classList.toggle('visually-hidden', this.overlay.textContent === text && text.length > 40);
  }

  button(act) { return $(`button[data-act="${act}"]`, this.li); }

  act(what) {
    switch (what) {
      case 'toggle':
        if (this.wanted) this.stop(); else this.watch({ kind: 'saved', t0: performance.now() });
        break;
      case 'fullscreen': this.fullscreen(); break;
      case 'snapshot': this.snapshot(); break;
      case 'password': openAdd(this.cam); break;
      case 'rename': openRename(this); break;
      case 'forget': openForget(this); break;
      case 'recordings': this.recordings.toggle(); break;
    }
  }

  setToggle() {
    const b = this.button('toggle');
    b.textContent = this.wanted ? 'Stop' : 'Watch';
    b.setAttribute('aria-label', `${b.textContent} ${this.cam.name}`);
  }

  // watch connects (or reconnects) with the saved key.
  watch(measure) {
    this.wanted = true;
    this.setToggle();
    this.button('password').hidden = true;
    clearTimeout(this.timer);
    this.connect(measure);
  }

  stop() {
    this.wanted = false;
    this.setToggle();
    clearTimeout(this.timer);
    this.drop();
    this.setStatus('Stopped', 'Stopped: press Watch to see the camera');
  }

  drop() {
    clearInterval(this.statsTimer);
    this.recordings.detach();
    if (this.session) this.session.close();
    this.session = null;
    this.video.srcObject = null;
    this.li.classList.remove('live', 'stalled');
  }

  async connect(measure, session) {
    if (this.connecting) return;
    this.connecting = true;
    this.drop();
    try {
      if (!session) {
        if (!rendezvous()) throw new LoginError('no rendezvous address is set: add it in Settings', 'settings');
        session = await login(rendezvous(), this.cam.id, {
          saved: this.cam,
          onStatus: (s) => this.setStatus(s),
          onTrack: (t) => this.attach(t, measure),
        });
      } else if (session.track) {
        this.attach(session.track, measure);
      } else {
        session.pc.ontrack = (ev) => {
          if (!isPlaybackTrack(ev)) this.attach(ev.track, measure);
          else if (session.pc.onplaybacktrack) session.pc.onplaybacktrack(ev.track);
        };
      }
      if (!this.wanted) { session.close(); return; }
      if (session.mode !== 'live') {
        session.close();
        throw new LoginError('the camera is back on its setup code (it was reset): enter the setup code to choose a password', 'need_password');
      }
      this.session = session;
      this.recordings.attach(session);
      this.connections = (this.connections || 0) + 1; // read by the browser suite
      this.retry = 0;
      this.watchConnection(session.pc);
      this.setStatus('Connected, waiting for video…');
      this.statsTimer = setInterval(() => this.showStats(), 1000);
    } catch (e) {
      this.failed(e);
    } finally {
      this.connecting = false;
    }
  }

  attach(track, measure) {
    const stream = new MediaStream([track]);
    this.video.srcObject = stream;
    this.video.play().catch(() => { /* autoplay of muted video is allowed */ });
    const t0 = measure ? measure.t0 : performance.now();
    const first = (now) => {
      this.li.classList.add('live');
      if (measure) app.metrics.push({ id: this.cam.id, kind: measure.kind, ms: now - t0 });
      this.showStats();
    };
    if ('requestVideoFrameCallback' in this.video) this.video.requestVideoFrameCallback(first);
    else this.video.addEventListener('loadeddata', () => first(performance.now()), { once: true });
  }

  watchConnection(pc) {
    let lostAt = 0;
    pc.addEventListener('connectionstatechange', () => {
      if (this.session?.pc !== pc) return;
      const s = pc.connectionState;
      this.li.classList.toggle('stalled', s === 'disconnected');
      if (s === 'failed' || s === 'closed') {
        this.lost('the connection to the camera was lost');
      } else if (s === 'disconnected') {
        lostAt = Date.now();
        this.setStatus('Connection interrupted, waiting…');
        setTimeout(() => {
          if (this.session?.pc === pc && pc.connectionState === 'disconnected' && Date.now() - lostAt >= 4000) {
            this.lost('the connection to the camera was interrupted');
          }
        }, 4000);
      }
    });
  }

  lost(why) {
    this.drop();
    if (this.wanted) this.schedule(sentence(why));
  }

  schedule(why, ms) {
    const wait = ms || Math.min(30000, 1000 * (1 << Math.min(this.retry, 5)));
    this.retry++;
    const secs = Math.round(wait / 1000);
    this.setStatus(`${why} Trying again in ${secs} s…`);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => { if (this.wanted) this.connect(); }, wait);
  }

  failed(e) {
    this.drop();
    const code = e.code || '';
    if (!this.wanted) return;
    if (code === 'need_password' || code === 'wrong_password' || code === 'impostor' || code === 'settings' || code === 'version') {
      this.wanted = false;
      this.setToggle();
      this.setStatus(sentence(e.message));
      this.button('password').hidden = code === 'settings' || code === 'impostor';
      return;
    }
    if (code === 'locked') {
      this.schedule(sentence(e.message), Math.max(1000, e.retryAfterMs));
      return;
    }
    this.schedule(sentence(e.message));
  }

  async showStats() {
    const pc = this.session?.pc;
    if (!pc || this.li.classList.contains('stalled')) return;
    try {
      const p = await pathOf(pc);
      if (this.session?.pc !== pc) return;
      let words = this.li.classList.contains('live') ? 'Live' : 'Connected, waiting for video';
      if (p.local) words += p.relayed ? ' · relayed (TURN)' : ' · direct';
      if (p.rttMs !== undefined) words += ` · RTT ${Math.round(p.rttMs)} ms`;
      this.setStatus(words, '');
      this.li.dataset.path = p.local ? (p.relayed ? 'relay' : 'direct') : '';
    } catch { /* the connection went away */ }
  }

  fullscreen() {
    const el = $('.stage', this.li);
    if (document.fullscreenElement) { document.exitFullscreen(); return; }
    if (el.requestFullscreen) el.requestFullscreen().catch(() => {});
    else if (this.video.webkitEnterFullscreen) this.video.webkitEnterFullscreen();
  }

  snapshot() {
    const v = this.video;
    if (!v.videoWidth) { this.setStatus('No picture yet to save'); return; }
    const c = document.createElement('canvas');
    c.width = v.videoWidth;
    c.height = v.videoHeight;
    c.getContext('2d').drawImage(v, 0, 0);
    c.toBlob((blob) => {
      if (!blob) return;
      const url = URL.createObjectURL(blob);
      const a = document.createElement('a');
      const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
      a.href = url;
      a.download = `peercam-${this.cam.name.replace(/[^\w-]+/g, '_')}-${stamp}.png`;
      document.body.append(a);
      a.click();
      a.remove();
      app.lastSnapshot = { name: a.download, size: blob.size, width: c.width, height: c.height };
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    }, 'image/png');
  }
}

function render() {
  const grid = $('#grid');
  for (const cam of cameras) {
    if (!app.views.has(cam.id)) {
      const v = new View(cam);
      app.views.set(cam.id, v);
      grid.append(v.li);
    }
  }
  $('#empty').hidden = cameras.length > 0;
  grid.dataset.count = String(cameras.length);
}

// ---- add a camera (or give a saved camera its password again)

let adding = null; // {cam?: saved camera being re-entered}

function openAdd(cam) {
  const dlg = $('#add-dlg');
  adding = { cam: cam || null };
  $('#add-form').reset();
  $('#add-error').textContent = '';
  $('#add-progress').textContent = '';
  $('#add-id').readOnly = !!cam;
  if (cam) {
    $('#add-id').value = cam.id;
    $('#add-name').value = cam.name;
    $('#add-title').textContent = `Log in to ${cam.name}`;
    $('#add-submit').textContent = 'Log in';
  } else {
    $('#add-title').textContent = 'Add a camera';
    $('#add-submit').textContent = 'Add camera';
  }
  setBusy('#add-form', false);
  dlg.showModal();
  (cam ? $('#add-pw') : $('#add-id')).focus();
}

function setBusy(form, busy) {
  for (const el of $(form).querySelectorAll('input, button[type="submit"]')) {
    if (el.id !== 'add-id' || !adding?.cam) el.disabled = busy;
  }
  $(form).setAttribute('aria-busy', busy ? 'true' : 'false');
}

// idHint checks the ID as it is typed, once the engine is there.
async function idHint() {
  const input = $('#add-id');
  const help = $('#add-id-help');
  const typed = input.value;
  const count = [...typed.normalize('NFKC')].filter((ch) => !/[\s\-‐-―−]/.test(ch)).length;
  input.removeAttribute('aria-invalid');
  if (count === 0) {
    help.textContent = "28 letters and digits, on the camera's label. Case, spaces and dashes do not matter.";
    return;
  }
  if (count < 28) {
    help.textContent = `${count} of 28 characters.`;
    return;
  }
  const engine = await load().catch(() => null);
  if (!engine) return;
  try {
    const { id } = engine.checkID(typed);
    help.textContent = `ID ${id}: the check characters match.`;
  } catch (e) {
    help.textContent = sentence(e.message);
    input.setAttribute('aria-invalid', 'true');
  }
}

async function submitAdd(ev) {
  ev.preventDefault();
  const errEl = $('#add-error');
  const progress = $('#add-progress');
  errEl.textContent = '';
  const t0 = performance.now();
  const name = $('#add-name').value.trim();
  const pw = $('#add-pw').value;
  let engine;
  try {
    engine = await load();
  } catch (e) {
    errEl.textContent = sentence(`the viewer could not start: ${e.message}`);
    return;
  }
  let id;
  try {
    id = engine.checkID($('#add-id').value).id;
  } catch (e) {
    errEl.textContent = sentence(e.message);
    $('#add-id').setAttribute('aria-invalid', 'true');
    $('#add-id').focus();
    return;
  }
  if (!adding.cam && cameras.some((c) => c.id === id)) {
    errEl.textContent = 'This camera is already in your list.';
    return;
  }
  if (!pw) {
    errEl.textContent = "Enter the camera's password, or its setup code if it is new.";
    $('#add-pw').focus();
    return;
  }
  if (!rendezvous()) {
    errEl.textContent = 'No rendezvous address is set: add it in Settings first.';
    return;
  }
  setBusy('#add-form', true);
  const cam = adding.cam || { id, name: name || `Camera ${cameras.length + 1}` };
  if (adding.cam && name) cam.name = name;
  let track = null;
  try {
    const session = await login(rendezvous(), id, {
      password: pw,
      onStatus: (s) => { progress.textContent = s; },
      onTrack: (t) => { track = t; },
    });
    if (session.mode === 'setup') {
      progress.textContent = '';
      $('#add-dlg').close();
      openSetPassword(cam, session, t0);
      return;
    }
    session.track = track;
    finishAdd(cam, session, { kind: 'first', t0 });
  } catch (e) {
    progress.textContent = '';
    errEl.textContent = sentence(e.message);
    setBusy('#add-form', false);
    if (e.code === 'wrong_password') { $('#add-pw').select(); $('#add-pw').focus(); }
    return;
  }
}

// finishAdd saves the camera with its derived key and shows its video.
function finishAdd(cam, session, measure) {
  Object.assign(cam, session.keys || {});
  if (!cameras.includes(cam)) cameras.push(cam);
  saveCameras();
  render();
  if ($('#add-dlg').open) $('#add-dlg').close();
  if ($('#pw-dlg').open) $('#pw-dlg').close();
  const v = app.views.get(cam.id);
  if (v.name !== cam.name) v.rename(cam.name);
  v.wanted = true;
  v.setToggle();
  v.button('password').hidden = true;
  clearTimeout(v.timer);
  v.connect(measure, session);
}

// ---- choose a password for a camera on its setup code

let choosing = null;

function strength(pw, id) {
  const chars = [...pw];
  if (chars.length === 0) return [0, ''];
  if (chars.length < 12) return [0, `Too short: ${chars.length} of at least 12 characters.`];
  const lower = pw.toLowerCase();
  const compact = lower.replace(/[\s-]/g, '');
  if (id && compact === id.toLowerCase().replace(/-/g, '')) return [0, "That is the camera's ID, which is not secret."];
  if (new Set(chars).size <= 3) return [1, 'Too predictable: a few characters repeated.'];
  for (const common of ['password', 'qwerty', '123456', 'letmein', 'admin', 'welcome', 'iloveyou', 'abc123']) {
    if (compact.includes(common) && compact.length < common.length + 6) return [1, 'Too predictable: built on a common password.'];
  }
  let pool = 0;
  if (/[a-z]/.test(pw)) pool += 26;
  if (/[A-Z]/.test(pw)) pool += 26;
  if (/[0-9]/.test(pw)) pool += 10;
  if (/[^a-zA-Z0-9]/.test(pw)) pool += 33;
  const bits = chars.length * Math.log2(Math.max(pool, 10)) * 0.6; // people do not type at random
  if (bits < 45) return [2, 'Fair: longer would be better.'];
  if (bits < 70) return [3, 'Good.'];
  return [4, 'Strong.'];
}

function showStrength() {
  const [score, words] = strength($('#pw-new').value, choosing?.cam.id);
  $('#pw-meter').value = score;
  $('#pw-strength-text').textContent = words;
}

function openSetPassword(cam, session, t0) {
  choosing = { cam, session, t0 };
  $('#pw-form').reset();
  $('#pw-error').textContent = '';
  $('#pw-progress').textContent = '';
  showStrength();
  setBusy('#pw-form', false);
  $('#pw-dlg').showModal();
  $('#pw-new').focus();
}

async function submitSetPassword(ev) {
  ev.preventDefault();
  const errEl = $('#pw-error');
  const progress = $('#pw-progress');
  errEl.textContent = '';
  const pw = $('#pw-new').value;
  if (pw !== $('#pw-again').value) {
    errEl.textContent = 'The two passwords are not the same.';
    $('#pw-again').focus();
    return;
  }
  const { cam, session } = choosing;
  setBusy('#pw-form', true);
  progress.textContent = 'Setting the password…';
  try {
    await session.setPassword(pw);
  } catch (e) {
    progress.textContent = '';
    // The camera's own sentence, as it came back in the sealed error.
    errEl.textContent = sentence(e.message);
    setBusy('#pw-form', false);
    $('#pw-new').focus();
    if (e.code === 'closed' || e.code === 'timeout') {
      errEl.textContent += ' Close this and add the camera again with its setup code.';
    }
    return;
  }
  session.close();
  // Log in again with the new password, as camview passwd tells people to.
  progress.textContent = 'Password set. Logging in with it…';
  let track = null;
  try {
    const live = await login(rendezvous(), cam.id, {
      password: pw,
      onStatus: (s) => { progress.textContent = `Password set. ${s}`; },
      onTrack: (t) => { track = t; },
    });
    live.track = track;
    if (live.mode !== 'live') throw new LoginError('the camera still reports its setup code', 'setup');
    finishAdd(cam, live, { kind: 'setup', t0: performance.now() });
  } catch (e) {
    progress.textContent = '';
    errEl.textContent = sentence(`the password was set, but logging in with it failed: ${e.message}`);
    setBusy('#pw-form', false);
  }
}

// ---- rename, forget, settings

let renaming = null;
function openRename(view) {
  renaming = view;
  $('#rename-name').value = view.cam.name;
  $('#rename-dlg').showModal();
  $('#rename-name').select();
}

let forgetting = null;
function openForget(view) {
  forgetting = view;
  $('#forget-text').textContent = `${view.cam.name} (${view.cam.id}) leaves this list, and the key this browser remembered for it is deleted. ` +
    'To watch it again you will need its password.';
  $('#forget-dlg').showModal();
}

function forget(view) {
  view.wanted = false;
  clearTimeout(view.timer);
  view.drop();
  view.li.remove();
  app.views.delete(view.cam.id);
  cameras = cameras.filter((c) => c.id !== view.cam.id);
  saveCameras();
  render();
  $('#add-btn').focus();
}

function openSettings() {
  $('#settings-rendezvous').value = rendezvous();
  $('#settings-error').textContent = '';
  $('#settings-version').textContent = config.version ? `App version ${config.version}.` : '';
  $('#settings-dlg').showModal();
}

function saveSettings(ev) {
  ev.preventDefault();
  const url = $('#settings-rendezvous').value.trim();
  if (url) {
    try { endpoint(url); } catch (e) {
      $('#settings-error').textContent = sentence(e.message.replace(': fix it in Settings', ''));
      return;
    }
  }
  settings.rendezvous = url;
  localStorage.setItem(SETTINGS, JSON.stringify(settings));
  $('#settings-dlg').close();
  showBanner('');
  for (const v of app.views.values()) {
    if (!v.session && !v.connecting) v.watch();
  }
}

// ---- start

function wire() {
  $('#add-btn').addEventListener('click', () => openAdd());
  $('#empty-add-btn').addEventListener('click', () => openAdd());
  $('#settings-btn').addEventListener('click', openSettings);
  $('#add-form').addEventListener('submit', submitAdd);
  $('#add-cancel').addEventListener('click', () => $('#add-dlg').close());
  $('#add-id').addEventListener('input', idHint);
  $('#pw-form').addEventListener('submit', submitSetPassword);
  $('#pw-new').addEventListener('input', showStrength);
  $('#pw-cancel').addEventListener('click', () => $('#pw-dlg').close());
  $('#pw-dlg').addEventListener('close', () => {
    if (choosing && choosing.session) choosing.session.close();
    choosing = null;
  });
  $('#settings-form').addEventListener('submit', saveSettings);
  $('#settings-cancel').addEventListener('click', () => $('#settings-dlg').close());
  $('#rename-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const name = $('#rename-name').value.trim();
    if (renaming && name) {
      renaming.rename(name);
      saveCameras();
    }
    $('#rename-dlg').close();
  });
  $('#rename-cancel').addEventListener('click', () => $('#rename-dlg').close());
  $('#forget-dlg').addEventListener('close', () => {
    if ($('#forget-dlg').returnValue === 'forget' && forgetting) forget(forgetting);
    forgetting = null;
  });
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState !== 'visible') return;
    for (const v of app.views.values()) if (v.wanted && !v.session && !v.connecting) v.connect();
  });
  window.addEventListener('online', () => {
    for (const v of app.views.values()) if (v.wanted && !v.session && !v.connecting) v.connect();
  });
}

async function main() {
  wire();
  render();
  try {
    config = await (await fetch('config.json', { cache: 'no-store' })).json();
  } catch { /* offline start from the service worker's copy */ }
  if (config.built === false) {
    showBanner('this server has no WebAssembly build of the viewer: run make web (or make build) and restart camview web');
    return;
  }
  if ('serviceWorker' in navigator && window.isSecureContext) {
    navigator.serviceWorker.register('sw.js', { updateViaCache: 'none' }).catch(() => {});
  }
  try {
    await load();
  } catch (e) {
    showBanner(`the viewer could not start: ${e.message}`);
    return;
  }
  app.ready = true;
  if (!rendezvous()) {
    showBanner('no rendezvous address is set: add it in Settings');
    return;
  }
  // Saved cameras reconnect with their remembered keys: no password.
  for (const v of app.views.values()) v.watch({ kind: 'reload', t0: performance.now() });
}

main();
