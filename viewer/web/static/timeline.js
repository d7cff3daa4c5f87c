// A camera's recordings under its tile: a timeline of what the camera
// recorded with its motion events marked, a click to play from that time
// (on the session's playback track, beside the live picture), back to live,
// and a clip to download. Live motion events also mark the tile.

import { Playback } from './playback.js';

const $ = (sel, root) => root.querySelector(sel);
const CLIP = 30; // seconds a download covers, from the chosen time

const hhmm = (d) => d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
const hhmmss = (d) => d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });

function sentence(s) {
  s = String(s || '').trim();
  if (!s) return '';
  s = s[0].toUpperCase() + s.slice(1);
  return /[.!?…]$/.test(s) ? s : s + '.';
}

export class Recordings {
  constructor(view, app) {
    this.view = view;
    this.app = app;
    this.el = $('.recordings', view.li);
    this.line = $('.timeline', this.el);
    this.stateEl = $('.rec-state', this.el);
    this.video = $('.rec-stage video', this.el);
    this.clock = $('.rec-clock', this.el);
    this.list = $('.rec-events', this.el);
    this.range = 3600; // seconds shown, up to now
    this.proto = null;
    this.session = null;
    this.segments = [];
    this.events = [];
    this.playing = null; // {start, requested, seq}
    this.chosen = null; // the time last chosen on the timeline
    this.lastDownload = null;
    this.liveEvents = [];
    this.timer = 0;
    this.line.addEventListener('click', (ev) => this.clickLine(ev));
    this.line.addEventListener('keydown', (ev) => this.keyLine(ev));
    this.el.addEventListener('click', (ev) => {
      const b = ev.target.closest('button');
      if (!b) return;
      if (b.dataset.range) { this.range = Number(b.dataset.range); this.refresh(); }
      if (b.dataset.rec === 'live') this.live();
      if (b.dataset.rec === 'download') this.downloadChosen();
      if (b.dataset.at) this.play(new Date(b.dataset.at));
    });
  }

  setState(text) { this.stateEl.textContent = sentence(text); }

  // attach is called with each live session: the protocol opens at once,
  // so that motion events arrive even while the panel is closed.
  async attach(session) {
    this.detach();
    this.session = session;
    session.pc.onplaybacktrack = (track) => this.showTrack(track);
    try {
      const p = await Playback.open(session.dc, session.pc);
      if (this.session !== session) return;
      this.proto = p;
    } catch (e) {
      if (this.session === session) this.setState(`recordings unavailable: ${e.message}`);
      return;
    }
    this.proto.onevent = (e) => this.onEvent(e);
    this.proto.onstatus = (s) => this.showStatus(s);
    this.showStatus(this.proto.hello.recording);
    if (!this.el.hidden) this.refresh();
  }

  detach() {
    this.session = null;
    this.proto = null;
    this.playing = null;
    this.video.srcObject = null;
    this.el.classList.remove('playing');
    this.view.li.classList.remove('motion');
  }

  toggle() {
    this.el.hidden = !this.el.hidden;
    const b = $('button[data-act="recordings"]', this.view.li);
    if (b) b.setAttribute('aria-expanded', String(!this.el.hidden));
    clearInterval(this.timer);
    if (!this.el.hidden) {
      this.refresh();
      this.timer = setInterval(() => this.refresh(), 10000);
    }
  }

  showStatus(st) {
    this.status = st || null;
    if (!st) { this.setState('this camera does not record'); return; }
    if (st.state === 'error') { this.setState(`recording stopped: ${st.error}`); return; }
    this.setState(`recording ${st.mode}${st.state === 'recording' ? ', now' : ''}`);
  }

  async refresh() {
    if (!this.proto) return;
    const to = new Date();
    const from = new Date(to.getTime() - this.range * 1000);
    try {
      const r = await this.proto.list(from, null);
      this.segments = r.segments;
      this.events = r.events;
      this.from = from;
      this.to = to;
      this.render();
    } catch (e) {
      this.setState(e.message);
    }
  }

  frac(t) { return Math.min(1, Math.max(0, (t - this.from) / (this.to - this.from))); }

  render() {
    for (const el of this.line.querySelectorAll('.seg, .mark')) el.remove();
    for (const s of this.segments) {
      const a = this.frac(new Date(s.start));
      const b = this.frac(new Date(s.end));
      const el = document.createElement('div');
      el.className = 'seg';
      el.style.left = `${a * 100}%`;
      el.style.width = `${Math.max(0.2, (b - a) * 100)}%`;
      this.line.append(el);
    }
    for (const e of this.events) {
      const el = document.createElement('div');
      el.className = 'mark';
      el.style.left = `${this.frac(new Date(e.start)) * 100}%`;
      el.title = `${e.kind} at ${hhmmss(new Date(e.start))}`;
      this.line.append(el);
    }
    const axis = this.el.querySelectorAll('.axis span');
    axis[0].textContent = hhmm(this.from);
    axis[1].textContent = hhmm(new Date((this.from.getTime() + this.to.getTime()) / 2));
    axis[2].textContent = 'now';
    this.line.setAttribute('aria-valuetext', this.chosen ? hhmmss(this.chosen) : 'none chosen');
    this.list.replaceChildren(...this.events.slice(-10).reverse().map((e) => {
      const li = document.createElement('li');
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'quiet';
      const start = new Date(e.start);
      b.dataset.at = new Date(start.getTime() - 3000).toISOString();
      b.textContent = `${hhmmss(start)} ${e.kind}${e.end ? `, ${Math.round((new Date(e.end) - start) / 1000)} s` : ', going on'}`;
      b.setAttribute('aria-label', `Play the ${e.kind} event at ${hhmmss(start)}`);
      li.append(b);
      return li;
    }));
  }

  clickLine(ev) {
    if (!this.from) return;
    const r = this.line.getBoundingClientRect();
    const f = (ev.clientX - r.left) / r.width;
    this.play(new Date(this.from.getTime() + f * (this.to - this.from)));
  }

  keyLine(ev) {
    if (!this.from) return;
    const step = { ArrowLeft: -60, ArrowRight: 60, PageUp: -600, PageDown: 600 }[ev.key];
    if (ev.key === 'Enter' && this.chosen) { this.play(this.chosen); return; }
    if (!step) return;
    ev.preventDefault();
    const base = this.chosen || new Date(this.to.getTime() - 60000);
    this.chosen = new Date(Math.min(this.to, Math.max(this.from, base.getTime() + step * 1000)));
    this.moveCursor();
    this.line.setAttribute('aria-valuetext', hhmmss(this.chosen));
  }

  moveCursor() {
    const c = $('.cursor', this.line);
    c.hidden = !this.chosen;
    if (this.chosen) c.style.left = `${this.frac(this.chosen) * 100}%`;
  }

  // play plays the recording from at (a Date).
  async play(at) {
    if (!this.proto) return;
    this.chosen = at;
    this.moveCursor();
    this.setState(`asking for ${hhmmss(at)}…`);
    try {
      const r = await this.proto.play(at, {
        onended: (why) => {
          if (this.playing && this.playing.id === r.id) {
            this.playing = null;
            this.el.classList.remove('playing');
            if (why === 'end') this.setState('the recording ended; back to live');
          }
        },
        onsegment: (m) => { if (this.playing) this.playing.rebase = new Date(m.start); },
      });
      this.playing = { id: r.id, start: r.start, requested: at, seq: r.seq, base: null };
      this.el.classList.add('playing');
      this.setState(`playing from ${hhmmss(r.start)}`);
      this.app.playbacks.push({ id: this.view.cam.id, requested: at.toISOString(), start: r.start.toISOString() });
      this.tick();
    } catch (e) {
      this.setState(e.message);
    }
  }

  showTrack(track) {
    this.video.srcObject = new MediaStream([track]);
    this.video.play().catch(() => {});
  }

  // tick shows the capture time of the recorded frame on screen, from its
  // RTP time since the first frame of the playback (or of the segment).
  tick() {
    if (!('requestVideoFrameCallback' in this.video)) return;
    const p = this.playing;
    const step = (now, meta) => {
      if (this.playing !== p) return;
      if (meta.rtpTimestamp !== undefined) {
        if (p.base === null || p.rebase) {
          if (p.rebase) { p.start = p.rebase; p.rebase = null; }
          p.base = meta.rtpTimestamp;
        }
        const at = new Date(p.start.getTime() + ((meta.rtpTimestamp - p.base) >>> 0) / 90);
        this.clock.textContent = `Recorded ${at.toLocaleDateString()} ${hhmmss(at)}`;
      }
      this.video.requestVideoFrameCallback(step);
    };
    this.video.requestVideoFrameCallback(step);
  }

  async live() {
    if (!this.proto) return;
    try { await this.proto.stop(); } catch { /* gone */ }
    this.playing = null;
    this.el.classList.remove('playing');
    this.setState('back to live');
  }

  downloadChosen() {
    const from = this.playing ? this.playing.start : this.chosen;
    if (!from) { this.setState('choose a time on the timeline first'); return; }
    return this.download(from, new Date(from.getTime() + CLIP * 1000));
  }

  async download(from, to) {
    if (!this.proto) return;
    this.setState('downloading…');
    try {
      const r = await this.proto.download(from, to, (n) => this.setState(`downloading… ${Math.round(n / 1024)} kB`));
      this.lastDownload = r;
      const url = URL.createObjectURL(r.blob);
      const a = document.createElement('a');
      a.href = url;
      a.download = r.name;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
      this.setState(`saved ${r.name} (${Math.round(r.size / 1024)} kB, ${hhmmss(r.start)} to ${hhmmss(r.end)})`);
    } catch (e) {
      this.setState(`the download failed: ${e.message}`);
    }
  }

  onEvent(e) {
    this.liveEvents.push(e);
    this.app.events.push({ id: this.view.cam.id, ...e });
    this.view.li.classList.toggle('motion', !e.end);
    if (!this.el.hidden) this.refresh();
  }
}
