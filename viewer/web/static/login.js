// One login to one camera: the WebSocket to the rendezvous and the
// browser's RTCPeerConnection, driven by the protocol engine. The messages
// on the WebSocket are exactly those of rendezvous/signaling/doc.go: the
// engine writes and reads every one of them; this file only carries them.

import { load, EngineError } from './engine.js';

const STEP_TIMEOUT = 15000;
const BUSY_RETRIES = 8;

// LoginError is a failure with a sentence for people and a code for logic:
// offline, wrong_password, busy, locked, impostor, need_password,
// rendezvous, closed, timeout, ...
export class LoginError extends Error {
  constructor(message, code, retryAfterMs = 0) {
    super(message);
    this.code = code;
    this.retryAfterMs = retryAfterMs;
  }
}

function asLoginError(e) {
  if (e instanceof LoginError) return e;
  if (e instanceof EngineError) return new LoginError(e.message, e.code, e.retryAfterMs);
  return new LoginError(String(e && e.message || e), 'failed');
}

// endpoint is the viewer endpoint of a rendezvous URL (wsconn.Endpoint).
export function endpoint(base) {
  let u;
  try { u = new URL(base); } catch { u = null; }
  if (!u || (u.protocol !== 'ws:' && u.protocol !== 'wss:') || !u.host) {
    throw new LoginError(`the rendezvous address "${base}" is not a ws:// or wss:// URL: fix it in Settings`, 'settings');
  }
  u.pathname = u.pathname.replace(/\/$/, '') + '/v1/view';
  return u.toString();
}

// Socket is a WebSocket with a queue of received text messages.
class Socket {
  static open(url) {
    return new Promise((resolve, reject) => {
      const s = new Socket(url);
      const t = setTimeout(() => { s.close(); reject(new LoginError('cannot reach the rendezvous (no answer)', 'rendezvous')); }, STEP_TIMEOUT);
      s.ws.onopen = () => { clearTimeout(t); resolve(s); };
      s.ws.onerror = () => { clearTimeout(t); reject(new LoginError('cannot reach the rendezvous', 'rendezvous')); };
    });
  }
  constructor(url) {
    this.queue = [];
    this.waiters = [];
    this.closed = false;
    this.ws = new WebSocket(url);
    this.ws.onmessage = (ev) => {
      if (typeof ev.data !== 'string') return;
      const w = this.waiters.shift();
      if (w) w.resolve(ev.data); else this.queue.push(ev.data);
    };
    this.ws.addEventListener('close', () => {
      this.closed = true;
      for (const w of this.waiters.splice(0)) w.reject(new LoginError('the rendezvous closed the connection', 'closed'));
      if (this.onclose) this.onclose();
    });
  }
  send(text) {
    if (this.ws.readyState !== WebSocket.OPEN) throw new LoginError('the connection to the rendezvous is closed', 'closed');
    this.ws.send(text);
  }
  next(timeout = STEP_TIMEOUT) {
    if (this.queue.length) return Promise.resolve(this.queue.shift());
    if (this.closed) return Promise.reject(new LoginError('the rendezvous closed the connection', 'closed'));
    return new Promise((resolve, reject) => {
      const w = {};
      const t = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(new LoginError(`no answer from the camera within ${timeout / 1000} s`, 'timeout'));
      }, timeout);
      w.resolve = (v) => { clearTimeout(t); resolve(v); };
      w.reject = (e) => { clearTimeout(t); reject(e); };
      this.waiters.push(w);
    });
  }
  close() {
    this.onclose = null;
    try { this.ws.close(); } catch { /* already closed */ }
  }
}

function gathered(pc) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new LoginError('the browser did not finish gathering network addresses', 'timeout')), STEP_TIMEOUT);
    const check = () => {
      if (pc.iceGatheringState === 'complete') {
        clearTimeout(t);
        pc.removeEventListener('icegatheringstatechange', check);
        resolve();
      }
    };
    pc.addEventListener('icegatheringstatechange', check);
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// isPlaybackTrack tells the playback track (recorded video, added by the
// camera when a recording is played: playback.js) from the live one.
export function isPlaybackTrack(ev) {
  return ev.track.id === 'playback' || (ev.streams && ev.streams[0] && ev.streams[0].id === 'peercam-playback');
}

// Session is a logged-in camera: the PeerConnection, and in setup mode the
// sealed command channel through the still open rendezvous connection. dc
// is the data channel for recordings and events (playback.js), part of the
// login's offer so that the login authenticates it.
export class Session {
  constructor(engine, handle, socket, pc, mode, keys, dc) {
    this.engine = engine;
    this.handle = handle;
    this.socket = socket;
    this.pc = pc;
    this.mode = mode;
    this.keys = keys; // {key, login, w0, w1}: what to remember of the camera
    this.dc = dc || null;
  }

  // setPassword asks a camera on its setup code for a new password; it
  // resolves when the camera took it and throws the camera's sentence when
  // it refused it.
  async setPassword(pw) {
    this.socket.send(this.engine.setPassword(this.handle, pw).send);
    for (;;) {
      const r = this.engine.receive(this.handle, await this.socket.next());
      if (r.kind !== 'command') continue;
      const c = r.command;
      if (c.cmd === 'password_set') return;
      if (c.cmd === 'error') throw new LoginError(c.message || 'the camera refused the password', 'refused:' + (c.reason || ''));
    }
  }

  close() {
    if (this.socket) this.socket.close();
    this.socket = null;
    if (this.pc) this.pc.close();
    this.pc = null;
    if (this.handle) {
      try { this.engine.close(this.handle); } catch { /* gone */ }
      this.handle = 0;
    }
  }
}

// login logs in to camera id through the rendezvous at base. opts:
//   password   the password or setup code (a first login), or
//   saved      {key, login, w0, w1} remembered keys (a saved camera)
//   onStatus   called with words for the person as the login goes on
//   onTrack    called with the live video MediaStreamTrack (the playback
//              track goes to pc.onplaybacktrack, if set)
// It resolves to a Session; in mode "live" video follows on onTrack.
export async function login(base, id, opts) {
  const status = opts.onStatus || (() => {});
  const engine = await load();
  status('Looking up the camera…');
  const socket = await Socket.open(endpoint(base));
  let handle = 0;
  let pc = null;
  try {
    socket.send(engine.openMessage(id).send);
    const opened = engine.opened(id, await socket.next());
    handle = opened.handle;
    status('Connecting…');

    // The browser gathers its addresses while argon2id (if any) runs.
    pc = new RTCPeerConnection({ iceServers: opened.ice || [] });
    pc.addTransceiver('video', { direction: 'recvonly' });
    const dc = pc.createDataChannel('peercam');
    pc.ontrack = (ev) => {
      if (isPlaybackTrack(ev)) {
        if (pc.onplaybacktrack) pc.onplaybacktrack(ev.track);
        return;
      }
      if (opts.onTrack) opts.onTrack(ev.track, ev.streams);
    };
    await pc.setLocalDescription(await pc.createOffer());
    const gathering = gathered(pc);

    let login = opened.login;
    let digest = opened.digest;
    let keys = null;
    const derive = async () => {
      if (!opts.password) {
        throw new LoginError("the camera's password changed since this viewer last logged in: enter the new password", 'need_password');
      }
      status('Checking the password…');
      const k = await engine.deriveInWorker(opened.id, login, opts.password);
      engine.useKeys(handle, k.w0, k.w1, k.digest);
      keys = { key: opened.key, login: k.digest, w0: k.w0, w1: k.w1 };
      status('Connecting…');
    };
    const saved = opts.saved;
    if (saved && saved.login === digest && saved.key === opened.key && saved.w0 && saved.w1) {
      engine.useKeys(handle, saved.w0, saved.w1, saved.login);
      keys = { key: saved.key, login: saved.login, w0: saved.w0, w1: saved.w1 };
    } else {
      await derive();
    }
    await gathering;
    const offer = pc.localDescription.sdp;

    for (let attempt = 0; ; attempt++) {
      socket.send(engine.hello(handle, offer).send);
      let r;
      do {
        r = engine.receive(handle, await socket.next());
      } while (r.kind === 'ignore');
      if (r.kind === 'retry') {
        if (attempt >= BUSY_RETRIES) throw new LoginError('the camera is busy with another login; try again in a moment', 'busy');
        if (r.need_keys) {
          if (attempt >= 2) throw new LoginError('the camera keeps changing its password parameters: refusing to connect', 'impostor');
          login = r.login;
          digest = r.digest;
          await derive();
        } else {
          const base = 150 * (1 << Math.min(attempt, 4));
          await sleep(base / 2 + Math.random() * base / 2);
        }
        continue;
      }
      if (r.kind !== 'answer') throw new LoginError('the camera sent an unexpected message', 'malformed');
      socket.send(r.send);
      await pc.setRemoteDescription({ type: 'answer', sdp: r.sdp });
      break;
    }
    // The camera's first sealed message says whether video follows.
    let mode = '';
    for (;;) {
      const r = engine.receive(handle, await socket.next());
      if (r.kind === 'command' && r.command.cmd === 'status') {
        mode = r.command.mode;
        break;
      }
    }
    if (mode !== 'live' && mode !== 'setup') throw new LoginError('the camera sent an unexpected status', 'malformed');
    if (mode === 'live') {
      // Live video goes on without the rendezvous.
      socket.close();
      engine.close(handle);
      return new Session(engine, 0, null, pc, mode, keys, dc);
    }
    pc.close();
    return new Session(engine, handle, socket, null, mode, keys);
  } catch (e) {
    socket.close();
    if (pc) pc.close();
    if (handle) { try { engine.close(handle); } catch { /* gone */ } }
    throw asLoginError(e);
  }
}

// pathOf reads the selected candidate pair from getStats: direct or
// relayed, the candidate types and the round-trip time.
export async function pathOf(pc) {
  const stats = await pc.getStats();
  let pair = null;
  stats.forEach((s) => {
    if (s.type === 'transport' && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId);
  });
  if (!pair) {
    stats.forEach((s) => { if (s.type === 'candidate-pair' && s.state === 'succeeded' && s.nominated) pair = pair || s; });
  }
  const out = { framesDecoded: 0 };
  stats.forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'video') {
      out.framesDecoded = s.framesDecoded || 0;
      out.width = s.frameWidth;
      out.height = s.frameHeight;
      out.fps = s.framesPerSecond;
    }
  });
  if (!pair) return out;
  const local = stats.get(pair.localCandidateId);
  const remote = stats.get(pair.remoteCandidateId);
  out.local = local ? local.candidateType : '';
  out.remote = remote ? remote.candidateType : '';
  out.relayed = out.local === 'relay' || out.remote === 'relay';
  out.rttMs = pair.currentRoundTripTime !== undefined ? pair.currentRoundTripTime * 1000 : undefined;
  return out;
}
