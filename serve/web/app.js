// The webcam page of `residual serve`: camera frames go to /v1/stream over
// a WebSocket at a steady rate with at most one frame in flight (frames
// are skipped, never queued, when the server is slower); each result's
// boxes, labels and per-class bars are drawn over the video. Plain
// JavaScript, no build step, nothing loaded from elsewhere.
"use strict";

const $ = (id) => document.getElementById(id);
const video = $("video"), overlay = $("overlay"), stage = $("stage"), roiEl = $("roi");

const MIRROR = true;          // the video is shown mirrored, like a mirror
const CAPTURE_WIDTH = 640;    // frames are scaled down to at most this width
const JPEG_QUALITY = 0.8;
const TRACK_IOU = 0.3;        // a face continues a track when boxes overlap this much
const TRACK_TTL_MS = 700;     // a track unseen for this long is dropped

const state = {
  models: [],        // from GET /v1/models
  model: null,       // current model info
  ws: null,
  inFlight: false,
  sentAt: 0,
  paused: false,
  skipped: 0,        // ticks skipped because a frame was in flight
  results: 0,        // results received
  captureMs: 0,      // time the browser took to grab and encode the last frame
  framesSent: 0,     // frames sent on this connection (the server numbers them the same way)
  controlAfter: 0,   // frames sent before the last options change: their results are stale
  resultTimes: [],   // arrival times of the last second's results
  tracks: [],        // {id, box, probs, seen}
  nextTrack: 1,
  roi: { x: 0.3, y: 0.2, w: 0.4, h: 0.55 }, // in displayed-video fractions
  controlDirty: true,
  timer: null,
};

const canvas = document.createElement("canvas");
const ctx2d = canvas.getContext("2d");

function showMessage(text) {
  const m = $("message");
  m.textContent = text;
  m.hidden = !text;
}

function setConnection(text, isError) {
  const c = $("connection");
  c.textContent = text;
  c.classList.toggle("error", !!isError);
}

// ---- camera ---------------------------------------------------------------

async function startCamera() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    showMessage("This browser cannot use a camera on this page: open it over https or on localhost.");
    return false;
  }
  try {
    const stream = await navigator.mediaDevices.getUserMedia({
      video: { width: { ideal: 640 }, height: { ideal: 480 } }, audio: false,
    });
    video.srcObject = stream;
    await video.play().catch(() => {});
    return true;
  } catch (err) {
    showMessage(cameraError(err));
    return false;
  }
}

function cameraError(err) {
  switch (err && err.name) {
    case "NotAllowedError":
    case "PermissionDeniedError":
    case "SecurityError":
      return "Camera access was refused. Allow the camera for this site in the browser's settings, then reload the page.";
    case "NotFoundError":
    case "DevicesNotFoundError":
    case "OverconstrainedError":
      return "No camera was found. Connect a camera, then reload the page.";
    case "NotReadableError":
    case "TrackStartError":
      return "The camera is busy or failed to start (another application may be using it).";
    default:
      return "Could not start the camera: " + (err && err.name ? err.name + ": " : "") + (err && err.message ? err.message : err);
  }
}

// ---- the token --------------------------------------------------------------
// A server started with a token wants it on the API. The page takes it once
// from its URL fragment (#token=..., never sent to the server), keeps it in
// sessionStorage and removes it from the address bar; when the API answers
// 401 it asks. Requests send "Authorization: Bearer TOKEN"; the WebSocket,
// which cannot send headers, offers the subprotocols "residual" and
// "bearer." + base64url(TOKEN) (see serve/auth.go).

const TOKEN_KEY = "residual-token";

function takeTokenFromURL() {
  const m = /(?:^#|&)token=([^&]*)/.exec(location.hash);
  if (!m) return;
  sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
  history.replaceState(null, "", location.pathname + location.search);
}

function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }

function authHeaders() {
  const t = token();
  return t ? { Authorization: "Bearer " + t } : {};
}

function base64url(text) {
  const bytes = new TextEncoder().encode(text);
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function streamProtocols() {
  const t = token();
  return t ? ["residual", "bearer." + base64url(t)] : ["residual"];
}

// fetchAPI fetches with the token, asking for one when the server answers 401.
async function fetchAPI(path) {
  for (let attempt = 0; ; attempt++) {
    const resp = await fetch(path, { headers: authHeaders() });
    if (resp.status !== 401 || attempt >= 3) return resp;
    const t = window.prompt(attempt === 0 ? "This server needs a token:" : "Wrong token; try again:");
    if (t === null) return resp;
    sessionStorage.setItem(TOKEN_KEY, t.trim());
  }
}

// ---- models ---------------------------------------------------------------

async function loadModels() {
  const resp = await fetchAPI("v1/models");
  if (!resp.ok) throw new Error("GET /v1/models: HTTP " + resp.status);
  const body = await resp.json();
  state.models = body.models;
  const sel = $("model");
  sel.innerHTML = "";
  for (const m of state.models) {
    const o = document.createElement("option");
    o.value = m.name;
    o.textContent = `${m.name} (${m.classes.length} classes, ${m.input.width}x${m.input.height})`;
    sel.appendChild(o);
  }
  const def = state.models.find((m) => m.default) || state.models[0];
  sel.value = def.name;
  selectModel(def.name);
}

function selectModel(name) {
  state.model = state.models.find((m) => m.name === name);
  // Gesture models look for hands (the palm detector), others for faces.
  $("mode").value = /gesture|hand|sign/i.test(name) ? "hands" : "faces";
  applyMode();
}

function applyMode() {
  state.tracks = [];
  overlay.textContent = "";
  $("panel").textContent = "";
  roiEl.hidden = $("mode").value !== "roi";
  layoutROI();
  state.controlDirty = true;
}

// ---- the WebSocket ------------------------------------------------------

function connect() {
  const url = new URL("v1/stream", location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(url, streamProtocols());
  ws.binaryType = "arraybuffer";
  state.ws = ws;
  setConnection("connecting…");
  ws.onopen = () => {
    setConnection("connected");
    state.inFlight = false;
    state.controlDirty = true;
    state.framesSent = state.controlAfter = 0;
  };
  ws.onmessage = (ev) => onReply(JSON.parse(ev.data));
  ws.onclose = () => {
    setConnection("disconnected: retrying…", true);
    state.inFlight = false;
    if (state.ws === ws) setTimeout(connect, 1000);
  };
}

function sendControl(frameW, frameH) {
  const mode = $("mode").value;
  const msg = { model: state.model.name, faces: mode === "faces", hands: mode === "hands", roi: null };
  if (mode === "roi") msg.roi = roiInFrame(frameW, frameH);
  state.ws.send(JSON.stringify(msg));
  state.controlDirty = false;
  state.controlAfter = state.framesSent;
}

// tick runs at the chosen rate: it sends one frame unless one is in flight.
function tick() {
  const ws = state.ws;
  if (state.paused || !ws || ws.readyState !== WebSocket.OPEN || !state.model) return;
  if (!video.videoWidth || video.readyState < 2) return;
  if (state.inFlight) {
    state.skipped++;
    $("dropped").textContent = state.skipped;
    return;
  }
  const scale = Math.min(1, CAPTURE_WIDTH / video.videoWidth);
  const w = Math.round(video.videoWidth * scale), h = Math.round(video.videoHeight * scale);
  if (canvas.width !== w || canvas.height !== h) {
    canvas.width = w;
    canvas.height = h;
    state.controlDirty = true;
  }
  if (state.controlDirty) sendControl(w, h);
  const t0 = performance.now();
  ctx2d.drawImage(video, 0, 0, w, h);
  state.inFlight = true;
  canvas.toBlob((blob) => {
    if (!blob || ws.readyState !== WebSocket.OPEN) { state.inFlight = false; return; }
    state.sentAt = performance.now();
    state.captureMs = state.sentAt - t0; // drawing and JPEG encoding in the browser
    state.framesSent++;
    ws.send(blob);
  }, "image/jpeg", JPEG_QUALITY);
}

function restartTimer() {
  clearInterval(state.timer);
  state.timer = setInterval(tick, 1000 / Number($("rate").value));
}

function onReply(msg) {
  const now = performance.now();
  if (msg.type === "error") {
    // A frame or control error leaves the stream open.
    setConnection("server: " + msg.error, true);
    if (msg.frame) state.inFlight = false;
    return;
  }
  state.inFlight = false;
  state.results++;
  setConnection("connected");
  state.resultTimes.push(now);
  while (state.resultTimes.length && now - state.resultTimes[0] > 1000) state.resultTimes.shift();
  $("fps").textContent = state.resultTimes.length.toFixed(0);
  $("latency").textContent = (now - state.sentAt).toFixed(0);
  $("server").textContent = msg.result.timings_ms.total.toFixed(1);
  // A frame sent before a model or mode change: its result is stale.
  if (!state.model || msg.frame <= state.controlAfter || msg.result.model !== state.model.name) return;
  updateTracks(msg.result, now);
  render(msg.result);
}

// ---- smoothing: tracks with an exponential moving average -----------------

function iou(a, b) {
  const x0 = Math.max(a.x, b.x), y0 = Math.max(a.y, b.y);
  const x1 = Math.min(a.x + a.w, b.x + b.w), y1 = Math.min(a.y + a.h, b.y + b.h);
  const inter = Math.max(0, x1 - x0) * Math.max(0, y1 - y0);
  return inter / (a.w * a.h + b.w * b.h - inter || 1);
}

function updateTracks(result, now) {
  const alpha = 1 - Number($("smoothing").value); // weight of the newest frame
  const free = state.tracks.slice();
  const next = [];
  for (const f of result.faces.concat(result.hands || [])) {
    const probs = f.probs.map((c) => c.p);
    let best = -1, bestIoU = TRACK_IOU;
    free.forEach((t, i) => {
      const v = iou(t.box, f.box);
      if (v > bestIoU && t.probs.length === probs.length) { best = i; bestIoU = v; }
    });
    if (best < 0) {
      next.push({ id: state.nextTrack++, box: { ...f.box }, probs, seen: now });
      continue;
    }
    const t = free.splice(best, 1)[0];
    t.probs = t.probs.map((p, k) => (1 - alpha) * p + alpha * probs[k]);
    for (const k of ["x", "y", "w", "h"]) t.box[k] = 0.5 * t.box[k] + 0.5 * f.box[k];
    t.seen = now;
    next.push(t);
  }
  // Keep briefly unseen tracks (a missed detection should not reset them).
  for (const t of free) if (now - t.seen < TRACK_TTL_MS) next.push(t);
  state.tracks = next;
}

// ---- drawing --------------------------------------------------------------

// contentRect is where the video's pixels are drawn inside the stage
// (object-fit: contain leaves bars).
function contentRect() {
  const sw = stage.clientWidth, sh = stage.clientHeight;
  const vw = video.videoWidth || 4, vh = video.videoHeight || 3;
  const s = Math.min(sw / vw, sh / vh);
  const w = vw * s, h = vh * s;
  return { x: (sw - w) / 2, y: (sh - h) / 2, w, h };
}

function render(result) {
  const r = contentRect();
  Object.assign(overlay.style, { left: r.x + "px", top: r.y + "px", width: r.w + "px", height: r.h + "px" });
  const sx = r.w / result.width, sy = r.h / result.height;
  const classes = state.model ? state.model.classes : [];
  overlay.textContent = "";
  const panel = $("panel");
  panel.textContent = "";
  for (const t of state.tracks) {
    let top = 0;
    t.probs.forEach((p, k) => { if (p > t.probs[top]) top = k; });
    const label = classes[top] || String(top);
    const b = t.box;
    const x = MIRROR ? result.width - b.x - b.w : b.x;

    const box = document.createElement("div");
    box.className = "face-box";
    box.dataset.label = label;
    Object.assign(box.style, { left: x * sx + "px", top: b.y * sy + "px", width: b.w * sx + "px", height: b.h * sy + "px" });
    const cap = document.createElement("div");
    cap.className = "face-label";
    cap.textContent = `${label} ${(100 * t.probs[top]).toFixed(0)}%`;
    box.appendChild(cap);
    box.appendChild(bars(t.probs, classes, top, "face-bars"));
    overlay.appendChild(box);

    const card = document.createElement("div");
    card.className = "track";
    const h = document.createElement("h3");
    h.textContent = `#${t.id}: ${label}`;
    card.appendChild(h);
    card.appendChild(bars(t.probs, classes, top, ""));
    panel.appendChild(card);
  }
  const mode = $("mode").value;
  if (!state.tracks.length) panel.textContent = mode === "faces" ? "No face in view." : mode === "hands" ? "No hand in view." : "";
}

function bars(probs, classes, top, cls) {
  const el = document.createElement("div");
  if (cls) el.className = cls;
  probs.forEach((p, k) => {
    const row = document.createElement("div");
    row.className = "bar" + (k === top ? " top" : "");
    const name = document.createElement("span");
    name.textContent = classes[k] || String(k);
    const fill = document.createElement("i");
    fill.style.width = Math.max(1, Math.round(p * 90)) + "px";
    const pct = document.createElement("small");
    pct.textContent = (100 * p).toFixed(0) + "%";
    row.append(name, fill, pct);
    el.appendChild(row);
  });
  return el;
}

// ---- region of interest ---------------------------------------------------

function layoutROI() {
  const r = contentRect(), q = state.roi;
  Object.assign(roiEl.style, { left: r.x + q.x * r.w + "px", top: r.y + q.y * r.h + "px", width: q.w * r.w + "px", height: q.h * r.h + "px" });
}

// roiInFrame converts the displayed ROI to frame pixels (undoing the mirror).
function roiInFrame(w, h) {
  const q = state.roi;
  const fx = MIRROR ? 1 - q.x - q.w : q.x;
  return { x: Math.round(fx * w), y: Math.round(q.y * h), w: Math.max(1, Math.round(q.w * w)), h: Math.max(1, Math.round(q.h * h)) };
}

function dragROI() {
  let drag = null;
  roiEl.addEventListener("pointerdown", (ev) => {
    const r = contentRect();
    drag = { resize: ev.target.classList.contains("roi-handle"), x: ev.clientX, y: ev.clientY, start: { ...state.roi }, r };
    roiEl.setPointerCapture(ev.pointerId);
  });
  roiEl.addEventListener("pointermove", (ev) => {
    if (!drag) return;
    const dx = (ev.clientX - drag.x) / drag.r.w, dy = (ev.clientY - drag.y) / drag.r.h, s = drag.start;
    const clamp = (v, lo, hi) => Math.min(Math.max(v, lo), hi);
    if (drag.resize) {
      state.roi.w = clamp(s.w + dx, 0.05, 1 - s.x);
      state.roi.h = clamp(s.h + dy, 0.05, 1 - s.y);
    } else {
      state.roi.x = clamp(s.x + dx, 0, 1 - s.w);
      state.roi.y = clamp(s.y + dy, 0, 1 - s.h);
    }
    layoutROI();
    state.controlDirty = true;
  });
  roiEl.addEventListener("pointerup", () => { drag = null; });
}

// ---- start ----------------------------------------------------------------

async function main() {
  takeTokenFromURL();
  $("model").addEventListener("change", (ev) => selectModel(ev.target.value));
  $("mode").addEventListener("change", applyMode);
  $("rate").addEventListener("change", restartTimer);
  $("toggle").addEventListener("click", () => {
    state.paused = !state.paused;
    $("toggle").textContent = state.paused ? "Resume" : "Pause";
  });
  window.addEventListener("resize", layoutROI);
  video.addEventListener("loadedmetadata", layoutROI);
  dragROI();
  try {
    await loadModels();
  } catch (err) {
    setConnection("cannot list models: " + err.message, true);
    return;
  }
  if (!(await startCamera())) return;
  connect();
  restartTimer();
}

window.residualState = state; // for debugging and the browser test
main();
