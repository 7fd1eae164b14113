// Live camera mode: sunglasses on every cat the camera sees, drawn on a
// canvas at the camera's frame rate. The page imports this module only when
// the user presses "Start the camera"; the detector is the on-device core in
// a Web Worker (device.js), so no camera frame leaves the browser.
//
// Every video frame is drawn with the latest tracked eye positions; the
// detector runs on one frame at a time (the next frame is sent when the
// answer is back), and between its answers each cat's eyes move on with the
// velocity of their last two detections, so the glasses follow a moving cat
// even when the detector cannot keep up with the camera.

const STATS_WINDOW_MS = 1000; // fps and passes/s are measured over the last second
const EXTRAPOLATE_MAX_MS = 80; // never run a track's motion further ahead than this (overshoot when a cat turns)
// A cat loses its glasses once the detector has missed it on two passes
// running, over at least this long: judged when a pass reports, never by the
// clock alone, so a slow detector (a pass can take over a second on a busy
// phone) does not blink them off between its passes.
const TRACK_TTL_MS = 700;
const MISSED_PASSES_MAX = 2;
const SMOOTHING = 0.85; // weight of a new detection against the track's prediction (a little damping of landmark jitter)
const DETECT_MAX_SIDE = 640; // frames sent to the detector are at most this wide/high

/** One sentence per way a camera can fail to start (getUserMedia's error names). */
export function cameraSentence(err) {
  switch (err?.name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return 'The camera was not allowed, so live mode cannot start. Allow this page to use the camera in your browser’s site settings, then press “Start the camera” again.';
    case 'NotFoundError':
    case 'OverconstrainedError':
      return 'No camera was found on this device, so live mode cannot start. You can still put sunglasses on a photo above.';
    case 'NotReadableError':
    case 'AbortError':
      return 'The camera could not be started: another app may be using it. Close that app and press “Start the camera” again.';
    default:
      return 'The camera could not be started. You can still put sunglasses on a photo above.';
  }
}

const GLASSES_FAILED = 'The sunglasses could not be loaded. Check your connection and press “Start the camera” again.';
const DEVICE_FAILED = 'Live mode could not load the on-device models it runs on. Check your connection and press “Start the camera” again.';
const CAMERA_ENDED = 'The camera stopped (it was unplugged, or another app took it). Press “Start the camera” to go on.';

export const NO_CAMERA_API = 'This browser cannot open a camera from this page (it needs camera support and a secure https page). You can still put sunglasses on a photo above.';

const lerp = (a, b, t) => a + (b - a) * t;
const mid = (c) => [(c.left[0] + c.right[0]) / 2, (c.left[1] + c.right[1]) / 2];
const dist = (a, b) => Math.hypot(a[0] - b[0], a[1] - b[1]);

/**
 * Eye tracks between detector passes. `update(cats, t)` takes a pass's cats
 * (landmarks in frame pixels) for the frame captured at `t`; `at(now)` gives
 * each live track's predicted { left, right }.
 */
export class EyeTracker {
  constructor() { this.tracks = []; }

  predict(track, now) {
    const dt = Math.min(Math.max(0, now - track.t), EXTRAPOLATE_MAX_MS);
    return {
      left: [track.left[0] + track.vl[0] * dt, track.left[1] + track.vl[1] * dt],
      right: [track.right[0] + track.vr[0] * dt, track.right[1] + track.vr[1] * dt],
    };
  }

  update(cats, t) {
    const free = new Set(this.tracks);
    const next = [];
    for (const cat of cats) {
      const seen = { left: cat.landmarks.left_eye, right: cat.landmarks.right_eye };
      // The nearest track whose eyes were within about an eye distance.
      let best = null;
      let bestD = Infinity;
      for (const tr of free) {
        const d = dist(mid(this.predict(tr, t)), mid(seen));
        if (d < bestD && d < 1.5 * Math.max(8, dist(tr.left, tr.right))) { best = tr; bestD = d; }
      }
      if (!best) {
        next.push({ ...seen, vl: [0, 0], vr: [0, 0], t, missed: 0 });
        continue;
      }
      free.delete(best);
      const p = this.predict(best, t);
      const left = [lerp(p.left[0], seen.left[0], SMOOTHING), lerp(p.left[1], seen.left[1], SMOOTHING)];
      const right = [lerp(p.right[0], seen.right[0], SMOOTHING), lerp(p.right[1], seen.right[1], SMOOTHING)];
      const dt = Math.max(1, t - best.t);
      const vel = (now, was, v) => [lerp(v[0], (now[0] - was[0]) / dt, 0.5), lerp(v[1], (now[1] - was[1]) / dt, 0.5)];
      next.push({ left, right, vl: vel(left, best.left, best.vl), vr: vel(right, best.right, best.vr), t, missed: 0 });
    }
    // Unmatched tracks live on (one missed pass, or a few quick ones, should
    // not blink): gone after MISSED_PASSES_MAX misses spanning TRACK_TTL_MS.
    for (const tr of free) {
      const missed = (tr.missed ?? 0) + 1;
      if (missed < MISSED_PASSES_MAX || t - tr.t < TRACK_TTL_MS) next.push({ ...tr, missed });
    }
    this.tracks = next;
  }

  /** The tracks' eyes at `now`; until the next pass says otherwise, every track is drawn. */
  at(now) {
    return this.tracks.map((tr) => this.predict(tr, now));
  }

  clear() { this.tracks = []; }
}

/** Times of events in the last STATS_WINDOW_MS, as a rate per second. */
class Rate {
  constructor() { this.times = []; }
  tick(t) {
    this.times.push(t);
    while (this.times.length && t - this.times[0] > STATS_WINDOW_MS) this.times.shift();
  }
  perSecond(now) {
    while (this.times.length && now - this.times[0] > STATS_WINDOW_MS) this.times.shift();
    if (this.times.length < 2) return 0;
    return ((this.times.length - 1) * 1000) / Math.max(1, now - this.times[0]);
  }
}

/**
 * An overlay ready to draw: a built-in style's PNG (www/glasses/, written by
 * `cargo run --example style_pngs` from the core's own art) with its eye
 * points, or the user's own PNG with its lenses at a quarter and three
 * quarters of its width, half way down (as the server assumes).
 */
let stylesManifest = null;
export async function loadOverlay({ style = 'classic', glasses } = {}) {
  if (glasses) {
    const img = await createImageBitmap(glasses);
    return { img, left: [0.25 * img.width, 0.5 * img.height], right: [0.75 * img.width, 0.5 * img.height] };
  }
  stylesManifest ??= fetch(new URL('glasses/styles.json', import.meta.url)).then((r) => {
    if (!r.ok) throw new Error(`glasses/styles.json: ${r.status}`);
    return r.json();
  });
  const manifest = await stylesManifest.catch((e) => { stylesManifest = null; throw e; });
  const entry = manifest[style] || manifest.classic;
  const res = await fetch(new URL(`glasses/${entry.file}`, import.meta.url));
  if (!res.ok) throw new Error(`glasses/${entry.file}: ${res.status}`);
  const img = await createImageBitmap(await res.blob());
  return { img, left: entry.left_eye, right: entry.right_eye };
}

/** Draw `overlay` with its eye points on `left`/`right`, as src/overlay.rs's draw() does. */
export function drawOverlay(ctx, overlay, left, right) {
  const [dx, dy] = [right[0] - left[0], right[1] - left[1]];
  const [odx, ody] = [overlay.right[0] - overlay.left[0], overlay.right[1] - overlay.left[1]];
  const d = Math.hypot(dx, dy);
  const od = Math.hypot(odx, ody);
  if (!(d >= 1) || !(od >= 1)) return;
  ctx.save();
  ctx.translate(left[0], left[1]);
  ctx.rotate(Math.atan2(dy, dx) - Math.atan2(ody, odx));
  ctx.scale(d / od, d / od);
  ctx.drawImage(overlay.img, -overlay.left[0], -overlay.left[1]);
  ctx.restore();
}

/**
 * The live camera: `start()` opens a camera into `canvas`, `stop()`,
 * `switchCamera()`, `snapshot()` (a JPEG Blob of what the view shows).
 * `getDevice()` resolves to the on-device core (device.js's loadDevice);
 * `overlay()` to what loadOverlay() gives for the page's chosen style.
 * `onStats({ fps, passes, cats })` about twice a second, `onState(state)`
 * on every change: { running, loading, cameras (how many), label (the camera's name) };
 * `onEnded()` when the camera goes away by itself.
 */
export class LiveCamera {
  constructor({ canvas, getDevice, overlay, onStats = () => {}, onState = () => {}, onEnded = () => {} }) {
    Object.assign(this, { canvas, getDevice, overlayFor: overlay, onStats, onState, onEnded });
    this.ctx = canvas.getContext('2d');
    this.video = document.createElement('video');
    this.video.muted = true;
    this.video.playsInline = true;
    this.tracker = new EyeTracker();
    this.drawn = new Rate();
    this.passes = new Rate();
    this.stream = null;
    this.running = false;
    this.inFlight = null; // the detector pass under way, if any
    this.cameras = [];
    this.overlay = null;
    this.device = null;
    this.generation = 0; // bumps on every start/stop, so stale callbacks bow out
    this.grab = document.createElement('canvas');
    this.grabCtx = this.grab.getContext('2d', { willReadFrequently: true });
    this.frames = 0;
    this.lastStats = 0;
  }

  /** Start (or restart on `deviceId`). Rejects with a sentence-bearing Error on failure. */
  async start(deviceId) {
    if (!navigator.mediaDevices?.getUserMedia) throw Object.assign(new Error(NO_CAMERA_API), { sentence: NO_CAMERA_API });
    this.stopStream();
    const generation = ++this.generation;
    this.onState({ running: false, loading: true });
    // The model loads while the camera opens (both take a moment).
    const device = this.device ? Promise.resolve(this.device) : this.getDevice();
    device.catch(() => {}); // reported below, after the camera's own outcome
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        audio: false,
        video: deviceId ? { deviceId: { exact: deviceId } } : { width: { ideal: 640 }, height: { ideal: 480 }, facingMode: 'environment' },
      });
    } catch (err) {
      this.onState({ running: false, loading: false });
      throw Object.assign(new Error(cameraSentence(err)), { sentence: cameraSentence(err), cause: err });
    }
    if (generation !== this.generation) { stream.getTracks().forEach((t) => t.stop()); return; }
    this.stream = stream;
    this.video.srcObject = stream;
    await this.video.play();
    this.canvas.width = this.video.videoWidth || 640;
    this.canvas.height = this.video.videoHeight || 480;
    this.running = true;
    this.tracker.clear();
    this.cameras = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === 'videoinput');
    this.onState({ running: true, loading: !this.device, cameras: this.cameras.length, label: this.label() });
    // A camera that goes away (unplugged, taken by another app) ends its track.
    stream.getVideoTracks()[0]?.addEventListener('ended', () => {
      if (generation !== this.generation) return;
      this.stop();
      this.onEnded();
    });
    this.schedule(generation);
    try {
      this.overlay ??= await this.overlayFor();
    } catch (cause) {
      this.stop();
      throw Object.assign(new Error(GLASSES_FAILED), { sentence: GLASSES_FAILED, cause });
    }
    try {
      this.device = await device;
    } catch (cause) {
      this.stop();
      throw Object.assign(new Error(DEVICE_FAILED), { sentence: DEVICE_FAILED, cause });
    }
    if (generation !== this.generation) return;
    this.onState({ running: true, loading: false, cameras: this.cameras.length, label: this.label() });
  }

  /** The camera in use, by the name the browser gives it. */
  label() { return this.stream?.getVideoTracks()[0]?.label || ''; }

  /** The overlay changed (another style or PNG chosen). */
  async setOverlay(overlay) { this.overlay = await overlay; }

  async switchCamera() {
    if (this.cameras.length < 2) return;
    const current = this.stream?.getVideoTracks()[0]?.getSettings().deviceId;
    const i = this.cameras.findIndex((c) => c.deviceId === current);
    await this.start(this.cameras[(i + 1) % this.cameras.length].deviceId);
  }

  stopStream() {
    this.stream?.getTracks().forEach((t) => t.stop());
    this.stream = null;
    this.video.srcObject = null;
  }

  stop() {
    this.generation++;
    this.running = false;
    this.inFlight = null;
    this.stopStream();
    this.tracker.clear();
    this.onState({ running: false, loading: false });
  }

  /** What the view shows now, as a JPEG. */
  snapshot() {
    return new Promise((resolve, reject) => this.canvas.toBlob((b) => (b ? resolve(b) : reject(new Error('snapshot'))), 'image/jpeg', 0.92));
  }

  schedule(generation) {
    const next = (now) => {
      if (generation !== this.generation || !this.running) return;
      this.frame(performance.now());
      this.schedule(generation);
    };
    // One draw per video frame where the browser says when there is one.
    if (this.video.requestVideoFrameCallback) this.video.requestVideoFrameCallback(next);
    else requestAnimationFrame(next);
  }

  frame(now) {
    const { ctx, canvas, video } = this;
    if (!video.videoWidth) return;
    if (canvas.width !== video.videoWidth || canvas.height !== video.videoHeight) {
      canvas.width = video.videoWidth;
      canvas.height = video.videoHeight;
      this.tracker.clear();
    }
    ctx.drawImage(video, 0, 0, canvas.width, canvas.height);
    if (this.device && !this.inFlight) this.detect(now);
    const eyes = this.overlay ? this.tracker.at(now) : [];
    for (const { left, right } of eyes) drawOverlay(ctx, this.overlay, left, right);
    this.frames++;
    this.drawn.tick(now);
    // What this frame shows, for anyone checking the view (the tests do).
    canvas.dataset.frames = String(this.frames);
    canvas.dataset.eyes = JSON.stringify(eyes.map((e) => [...e.left, ...e.right].map((v) => Math.round(v * 10) / 10)));
    if (now - this.lastStats > 500) {
      this.lastStats = now;
      this.onStats({ fps: this.drawn.perSecond(now), passes: this.passes.perSecond(now), cats: eyes.length });
    }
  }

  /** Send the current frame to the detector; one pass in flight at a time. */
  detect(now) {
    const { video, grab, grabCtx } = this;
    const scale = Math.min(1, DETECT_MAX_SIDE / Math.max(video.videoWidth, video.videoHeight));
    const w = Math.round(video.videoWidth * scale);
    const h = Math.round(video.videoHeight * scale);
    if (grab.width !== w || grab.height !== h) { grab.width = w; grab.height = h; }
    grabCtx.drawImage(video, 0, 0, w, h);
    const frame = grabCtx.getImageData(0, 0, w, h);
    const generation = this.generation;
    const pass = {};
    this.inFlight = pass;
    const seen = (cats) => {
      if (generation !== this.generation) return;
      const up = (p) => [p[0] / scale, p[1] / scale];
      this.passes.tick(performance.now());
      this.tracker.update(cats.map((c) => ({ ...c, landmarks: { left_eye: up(c.landmarks.left_eye), right_eye: up(c.landmarks.right_eye) } })), now);
    };
    this.device.detectFrame(frame).then(({ cats }) => seen(cats || []), (err) => {
      if (err?.code === 'no_cat_found') seen([]);
      // Any other failed pass (a frame the core refuses) costs that pass only.
      else if (generation === this.generation) console.warn('edgecat live: detector pass failed', err);
    }).finally(() => { if (this.inFlight === pass) this.inFlight = null; });
  }
}

// ---- the card ------------------------------------------------------------------

const NO_DEVICE = 'Live mode needs WebAssembly and module Web Workers, which this browser does not offer. You can still put sunglasses on a photo above.';

/**
 * Wire the page's live camera card (its elements by id, see index.html) to
 * a LiveCamera. `getDevice()`: the on-device core; `glasses()`: the chosen
 * { style } or { glasses: File }. Returns { start(), restyle(), camera }.
 */
export function mountLive({ getDevice, glasses, devicePossible = true }) {
  const $ = (id) => document.getElementById(id);
  const el = {
    start: $('live-start'), stop: $('live-stop'), switch: $('live-switch'), switchWhy: $('live-switch-why'),
    snapshot: $('live-snapshot'), status: $('live-status'), error: $('live-error'), stage: $('live-stage'),
    view: $('live-view'), fps: $('live-fps'), passes: $('live-passes'), cats: $('live-cats'),
  };
  const fail = (err) => {
    el.stage.hidden = true;
    el.error.textContent = err?.sentence || err?.message || 'Live mode could not start. You can still put sunglasses on a photo above.';
    if (!err?.sentence) console.error(err);
  };
  const camera = new LiveCamera({
    canvas: el.view,
    getDevice,
    overlay: () => loadOverlay(glasses()),
    onEnded: () => fail({ sentence: CAMERA_ENDED }),
    onStats: ({ fps, passes, cats }) => {
      el.fps.textContent = fps.toFixed(1);
      el.passes.textContent = passes.toFixed(1);
      el.cats.textContent = String(cats);
    },
    onState: ({ running, loading, cameras, label }) => {
      el.start.disabled = running || loading;
      el.stop.disabled = !running && !loading;
      el.snapshot.disabled = !running;
      el.stage.hidden = !running;
      el.switch.disabled = !(running && cameras > 1);
      el.switchWhy.textContent = running && cameras <= 1 ? 'Switch camera is off: this device has only one camera.' : '';
      el.status.textContent = loading && running ? 'Camera on. Loading the on-device models (once)…'
        : loading ? 'Starting the camera…'
          : running ? `Live${label ? ` from “${label}”` : ''}: sunglasses go on every cat the camera sees. Nothing leaves this device.` : '';
    },
  });
  el.stop.addEventListener('click', () => camera.stop());
  el.switch.addEventListener('click', () => { el.error.textContent = ''; camera.switchCamera().catch(fail); });
  el.snapshot.addEventListener('click', async () => {
    const a = document.createElement('a');
    a.href = URL.createObjectURL(await camera.snapshot());
    a.download = `edgecat-live-${new Date().toISOString().replace(/[:.]/g, '-')}.jpg`;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 60_000);
  });
  return {
    camera,
    start() {
      el.error.textContent = '';
      if (!devicePossible) return fail({ sentence: NO_DEVICE });
      if (!navigator.mediaDevices?.getUserMedia) return fail({ sentence: NO_CAMERA_API });
      return camera.start().catch(fail);
    },
    restyle() { if (camera.running) camera.setOverlay(loadOverlay(glasses())).catch(fail); },
  };
}
