// The playback protocol (rendezvous/signaling/playback/doc.go is the
// specification) on a logged-in session's data channel: recordings and
// events by time range, playing a recording from a chosen time on a second
// video track, clip downloads, and motion events and the recording state
// as they happen. Nothing of it passes through the rendezvous.

const VERSION = 1;
const HELLO_EVERY = 250;
const TIMEOUT = 15000;

export class PlaybackError extends Error {
  constructor(message, code) {
    super(message);
    this.code = code || 'failed';
  }
}

// stripCandidates drops ICE candidates from an SDP: a renegotiation on the
// data channel keeps the path the login set up.
function stripCandidates(sdp) {
  return sdp.split(/\r?\n/).filter((l) => !l.startsWith('a=candidate:') && !l.startsWith('a=end-of-candidates')).join('\r\n');
}

const hex = (buf) => [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, '0')).join('');

export class Playback {
  // open greets the camera on dc (session.dc) and resolves once it
  // answered.
  static async open(dc, pc) {
    const p = new Playback(dc, pc);
    await p.greet();
    return p;
  }

  constructor(dc, pc) {
    this.dc = dc;
    this.pc = pc;
    this.nextID = 0;
    this.pending = new Map(); // id -> {push(msg)}
    this.sinks = new Map(); // id -> {parts: [], size}
    this.onevent = null; // (event) => {}
    this.onstatus = null; // (status) => {}
    this.onclose = null;
    this.hello = null;
    this.closed = false;
    dc.binaryType = 'arraybuffer';
    dc.addEventListener('message', (ev) => this.receive(ev.data));
    dc.addEventListener('close', () => {
      this.closed = true;
      for (const q of this.pending.values()) q.fail(new PlaybackError('the connection to the camera closed', 'closed'));
      this.pending.clear();
      if (this.onclose) this.onclose();
    });
  }

  async greet() {
    if (this.dc.readyState === 'connecting') {
      await new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new PlaybackError('the data channel to the camera did not open', 'timeout')), TIMEOUT);
        this.dc.addEventListener('open', () => { clearTimeout(t); resolve(); }, { once: true });
      });
    }
    // Hello every HELLO_EVERY ms until one comes back: the camera may
    // begin to read the channel a moment after it opened.
    let answered;
    const got = new Promise((resolve) => { answered = resolve; });
    const greeter = { push: (m) => { if (m.type === 'hello') answered(m); }, fail: () => {} };
    const ids = [];
    const started = Date.now();
    try {
      for (;;) {
        if (this.closed || this.dc.readyState !== 'open') throw new PlaybackError('the connection to the camera closed', 'closed');
        const id = ++this.nextID;
        ids.push(id);
        this.pending.set(id, greeter);
        this.send({ id, type: 'hello', version: VERSION });
        const h = await Promise.race([got, new Promise((r) => setTimeout(() => r(null), HELLO_EVERY))]);
        if (h) {
          if (h.version !== VERSION) throw new PlaybackError(`the camera speaks playback protocol version ${h.version}`, 'version');
          this.hello = h;
          return;
        }
        if (Date.now() - started > TIMEOUT) throw new PlaybackError('the camera does not answer on the data channel (older firmware?)', 'timeout');
      }
    } finally {
      for (const id of ids) this.pending.delete(id);
    }
  }

  send(msg) {
    if (this.dc.readyState !== 'open') throw new PlaybackError('the connection to the camera closed', 'closed');
    this.dc.send(JSON.stringify(msg));
  }

  // queue registers a new request id and returns its message queue.
  queue() {
    const id = ++this.nextID;
    const items = [];
    const waiters = [];
    let failure = null;
    const q = {
      id,
      push(m) { const w = waiters.shift(); if (w) w.resolve(m); else items.push(m); },
      fail(e) { failure = e; for (const w of waiters.splice(0)) w.reject(e); },
      // next resolves to the next message (an error message rejects).
      next(timeout = TIMEOUT) {
        return q.peek(timeout).then((m) => {
          if (m.type === 'error') throw new PlaybackError(m.error || 'the camera refused', m.code);
          return m;
        });
      },
      peek(timeout = TIMEOUT) {
        if (items.length) return Promise.resolve(items.shift());
        if (failure) return Promise.reject(failure);
        return new Promise((resolve, reject) => {
          const w = {};
          const t = setTimeout(() => {
            const i = waiters.indexOf(w);
            if (i >= 0) waiters.splice(i, 1);
            reject(new PlaybackError('no answer from the camera', 'timeout'));
          }, timeout);
          w.resolve = (m) => { clearTimeout(t); resolve(m); };
          w.reject = (e) => { clearTimeout(t); reject(e); };
          waiters.push(w);
        });
      },
    };
    this.pending.set(id, q);
    return q;
  }

  receive(data) {
    if (data instanceof ArrayBuffer) {
      if (data.byteLength < 4) return;
      const id = new DataView(data).getUint32(0);
      const s = this.sinks.get(id);
      if (s) {
        s.parts.push(new Uint8Array(data, 4));
        s.size += data.byteLength - 4;
        if (s.onprogress) s.onprogress(s.size);
      }
      return;
    }
    let m;
    try { m = JSON.parse(data); } catch { return; }
    if (!m || typeof m.type !== 'string') return;
    const id = m.id || 0;
    if (id === 0 && m.type === 'event' && m.event) { if (this.onevent) this.onevent(m.event); return; }
    if (id === 0 && m.type === 'status' && m.recording) { if (this.onstatus) this.onstatus(m.recording); return; }
    const q = this.pending.get(id);
    if (q) q.push(m);
  }

  async request(msg) {
    const q = this.queue();
    try {
      this.send({ ...msg, id: q.id });
      return await q.next();
    } finally {
      this.pending.delete(q.id);
    }
  }

  status() { return this.request({ type: 'status' }).then((m) => m.recording || null); }

  // list resolves to {segments, events} overlapping [from, to) (Dates or
  // null), asking again while the camera says there are more.
  async list(from, to) {
    const segments = [];
    const events = [];
    let cursor = from;
    for (let page = 0; page < 50; page++) {
      const m = await this.request({ type: 'list', from: cursor ? cursor.toISOString() : undefined, to: to ? to.toISOString() : undefined });
      const segs = m.segments || [];
      const evs = m.events || [];
      for (const s of segs) if (!segments.length || s.seq > segments[segments.length - 1].seq) segments.push(s);
      for (const e of evs) if (!events.length || e.id > events[events.length - 1].id) events.push(e);
      if (!m.truncated) break;
      const ends = [];
      if (segs.length) ends.push(new Date(segs[segs.length - 1].end));
      if (evs.length) ends.push(new Date(evs[evs.length - 1].start));
      cursor = new Date(Math.min(...ends));
    }
    return { segments, events };
  }

  // play asks the camera to play from at (a Date). The frames come on the
  // playback track (pc.onplaybacktrack); the first play of a session adds
  // it by renegotiation, answered here. Resolves to {id, start, seq} and
  // calls onended(reason) and onsegment(msg) later.
  async play(at, { onended, onsegment } = {}) {
    const q = this.queue();
    this.send({ id: q.id, type: 'play', at: at.toISOString() });
    try {
      for (;;) {
        const m = await q.next();
        if (m.type === 'offer') {
          await this.pc.setRemoteDescription({ type: 'offer', sdp: stripCandidates(m.sdp) });
          await this.pc.setLocalDescription(await this.pc.createAnswer());
          this.send({ id: q.id, type: 'answer', sdp: this.pc.localDescription.sdp });
        } else if (m.type === 'playing') {
          (async () => {
            for (;;) {
              let e;
              try { e = await q.peek(24 * 3600 * 1000); } catch { e = { type: 'ended', reason: 'closed' }; }
              if (e.type === 'segment') { if (onsegment) onsegment(e); continue; }
              if (e.type === 'ended' || e.type === 'error') {
                this.pending.delete(q.id);
                if (onended) onended(e.reason || e.code || 'error');
                return;
              }
            }
          })();
          return { id: q.id, start: new Date(m.start), seq: m.seq };
        } else if (m.type === 'ended') {
          throw new PlaybackError('the playback ended before it began', 'not_found');
        }
      }
    } catch (e) {
      this.pending.delete(q.id);
      throw e;
    }
  }

  stop() { return this.request({ type: 'stop' }); }

  // download resolves to {blob, name, start, end, size, sha256} for the
  // clip of [from, to), once every byte arrived and the hash checks out.
  download(from, to, onprogress) {
    return this.fetch({ type: 'download', from: from.toISOString(), to: to.toISOString() }, 'video/mp4', onprogress);
  }

  snapshot(eventID) {
    return this.fetch({ type: 'snapshot', event_id: eventID }, 'image/jpeg');
  }

  async fetch(msg, type, onprogress) {
    const q = this.queue();
    const sink = { parts: [], size: 0, onprogress };
    this.sinks.set(q.id, sink);
    try {
      this.send({ ...msg, id: q.id });
      const head = await q.next();
      for (;;) {
        const m = await q.next(60000);
        if (m.type !== 'done') continue;
        const blob = new Blob(sink.parts, { type: head.content_type || type });
        if (blob.size !== m.size) throw new PlaybackError(`the download is incomplete: ${blob.size} of ${m.size} bytes`, 'incomplete');
        if (crypto.subtle) {
          const sum = hex(await crypto.subtle.digest('SHA-256', await blob.arrayBuffer()));
          if (sum !== m.sha256) throw new PlaybackError('the download does not match its checksum', 'incomplete');
        }
        return {
          blob, name: head.name || 'peercam.mp4', size: blob.size, sha256: m.sha256,
          start: head.start ? new Date(head.start) : null, end: new Date(m.end || head.end || 0),
        };
      }
    } finally {
      this.pending.delete(q.id);
      this.sinks.delete(q.id);
    }
  }
}
