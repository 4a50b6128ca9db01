// The viewer: each source (camera) of the open frame, its picture and ROIs on a canvas.
//
// The frame arrives as one JSON string, `model.frame_json` ({frame, sources: [{id, url, w, h,
// dw, dh, shapes, lines, points, masks, texts}]}: see workbench/ui/frame_view.py). Everything
// in it comes from data, so titles and the tooltip are built with textContent, and shapes are
// drawn from numbers only. A new picture is decoded before the frame is drawn (the previous
// frame stays on screen meanwhile), so the ROIs never show over another frame's picture.
// Wheel: zoom at the mouse; drag: pan; double click or the reset button: fit again. A click on
// a shape chooses it (shift-click: one more); the chosen ids go back in `model.chosen`.
// Once a frame is drawn, its position in the context (`pos`: {i, n, t}) is announced on the
// page as a "wb-position" event for `model.channel` (and kept in window.__wbPositions): the
// player's label, controls and timeline follow it, so a frame step is one message.
//
// Playing (player.js), the page draws from frames it holds: at each tick the player sends a
// "wb-play" event ({channel, i, dir, size}); if the frame at position i is in the buffer, it
// is drawn from there (`detail.has`), without a round trip. The buffer is filled by
// `model.batch_json` ({seq, frames: [frame...]}), asked for with `send_msg({more: {at, frame,
// from, dir, count}})` while fewer than `size` frames (half a second of playing) are held or asked
// for ahead; their pictures are fetched and decoded on arrival. A frame_json from the server (a step, a new context, other fields shown)
// empties it; one marked `follow` (the server moving to where the playback is) is not drawn.
// Played frames come without their ROIs' hover rows (half of a batch); with the mouse over
// one, the page asks for them (`send_msg({tips: frame})`, answered in `model.tips_json`).
//
// A frame from the server also carries the frames a step goes to (`near`, without hover
// rows): the previous and next ("-1", "1") and the previous and next matching ("m-1",
// "m1"; or the key of the entry holding the same frame). A step in the page draws that
// frame at once: a click on the player's ◀ match, ◀ frame, frame ▶ or match ▶ (elements
// with the class `wb-step-<channel>`) or a "wb-step" event for `model.channel` ({step: 1
// or -1, match}: the arrow keys, workbench/ui/keys.py). The server's answer to the step
// (its frame_json) is drawn over it when it comes; one step is drawn ahead at most.

const DASH = [6, 3];
const WAIT_MS = 400; // draw without the picture if it has not come by then
const KEPT = 96; // decoded pictures kept, the most recent (two batches ahead fit)
const BUFFERED = 128; // frames held for playback, at most
const FIRST_BATCH = 4; // frames asked for when playing starts
const MAX_BATCH = 32; // frames asked for at once, at most (workbench/ui/playback.py)
const ASK_AGAIN_MS = 1000; // ask for more frames again if no batch came for this long
const MAX_TIPS = 4; // ROIs described in the tooltip at once (the smallest first)

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = String(text ?? "");
  return node;
}

function num(value, fallback) {
  const n = Number(value);
  return Number.isFinite(n) ? n : fallback;
}

// A model's JSON text as a value; `fallback` when the text is not JSON.
function parsed(text, fallback) {
  try {
    return JSON.parse(text);
  } catch {
    return fallback;
  }
}

function list(value) {
  return Array.isArray(value) ? value : [];
}

// Decoded pictures by URL, shared by every source and frame.
const pictures = new Map();

function picture(url) {
  let entry = pictures.get(url);
  if (entry === undefined) {
    const image = new Image();
    image.decoding = "async";
    entry = { image, ready: false, failed: false, waiting: [] };
    const settle = (failed) => {
      entry.ready = !failed;
      entry.failed = failed;
      for (const resolve of entry.waiting.splice(0)) resolve();
    };
    image.onload = () => image.decode().then(() => settle(false), () => settle(false));
    image.onerror = () => settle(true);
    image.src = url;
    pictures.set(url, entry);
    while (pictures.size > KEPT) pictures.delete(pictures.keys().next().value);
  } else {
    pictures.delete(url); // most recent last
    pictures.set(url, entry);
  }
  return entry;
}

function settled(entry) {
  if (entry.ready || entry.failed) return Promise.resolve();
  return new Promise((resolve) => entry.waiting.push(resolve));
}

// Even-odd point in the rings (flat [x0, y0, x1, y1, ...] each).
function inside(rings, x, y) {
  let hit = false;
  for (const ring of rings) {
    const n = Math.floor(ring.length / 2);
    for (let i = 0, j = n - 1; i < n; j = i++) {
      const xi = ring[2 * i], yi = ring[2 * i + 1], xj = ring[2 * j], yj = ring[2 * j + 1];
      if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) hit = !hit;
    }
  }
  return hit;
}

function nearLine(ring, x, y, reach) {
  for (let i = 0; i + 3 < ring.length; i += 2) {
    const [ax, ay, bx, by] = [ring[i], ring[i + 1], ring[i + 2], ring[i + 3]];
    const dx = bx - ax, dy = by - ay;
    const t = dx || dy ? Math.max(0, Math.min(1, ((x - ax) * dx + (y - ay) * dy) / (dx * dx + dy * dy))) : 0;
    if (Math.hypot(ax + t * dx - x, ay + t * dy - y) <= reach) return true;
  }
  return false;
}

function boxArea(rings) {
  let [x0, y0, x1, y1] = [Infinity, Infinity, -Infinity, -Infinity];
  for (const ring of rings) {
    for (let i = 0; i + 1 < ring.length; i += 2) {
      x0 = Math.min(x0, ring[i]); x1 = Math.max(x1, ring[i]);
      y0 = Math.min(y0, ring[i + 1]); y1 = Math.max(y1, ring[i + 1]);
    }
  }
  return (x1 - x0) * (y1 - y0);
}

// Numbers only: a ring with anything else is dropped.
function cleanRings(rings) {
  return list(rings).map((ring) => list(ring).map((v) => num(v, NaN)))
    .filter((ring) => ring.length >= 2 && ring.every(Number.isFinite));
}

function cleanItems(items) {
  return list(items).map((item) => ({
    id: String(item.i ?? ""),
    color: String(item.c ?? "#888888"),
    alpha: num(item.a, 1),
    dashed: Boolean(item.d),
    rings: cleanRings(item.p),
    x: num(item.x, 0),
    y: num(item.y, 0),
    hover: Array.isArray(item.hv) ? hoverRows(item.hv) : null, // null: not sent (played)
  }));
}

function hoverRows(rows) {
  return list(rows).map((row) => [String(list(row)[0] ?? ""), String(list(row)[1] ?? "")]);
}

class SourceView {
  constructor(owner) {
    this.owner = owner;
    this.el = element("div", "wb-viewer-plot");
    this.title = element("div", "wb-source-title");
    this.box = element("div", "wb-canvas-box");
    this.canvas = element("canvas", "wb-canvas");
    this.reset = element("button", "wb-fit", "⟲");
    this.reset.title = "Fit the picture again";
    this.box.append(this.canvas, this.reset);
    this.el.append(this.title, this.box);
    this.ctx = this.canvas.getContext("2d");
    this.source = null;
    this.image = null;
    this.masks = [];
    this.view = { s: 1, tx: 0, ty: 0 };
    this.listen();
  }

  // A new source to show: its picture and masks are decoded first.
  async show(source) {
    const url = String(source.url ?? "");
    const entries = [url, ...list(source.masks).map((m) => String(m.url ?? ""))]
      .map((u) => (u ? picture(u) : null));
    const ready = Promise.all(entries.filter((e) => e !== null).map(settled));
    await Promise.race([ready, new Promise((resolve) => setTimeout(resolve, WAIT_MS))]);
    return () => this.commit(source, entries);
  }

  commit(source, entries) {
    const sizeChanged = !this.source || this.source.w !== source.w || this.source.h !== source.h
      || this.source.dw !== source.dw || this.source.dh !== source.dh;
    this.source = {
      id: String(source.id ?? ""),
      w: Math.max(num(source.w, 1), 1),
      h: Math.max(num(source.h, 1), 1),
      dw: Math.max(num(source.dw, 80), 1),
      dh: Math.max(num(source.dh, 60), 1),
      shapes: cleanItems(source.shapes),
      lines: cleanItems(source.lines),
      points: cleanItems(source.points),
      texts: list(source.texts).map((t) => ({
        x: num(t.x, 0), y: num(t.y, 0), text: String(t.t ?? ""), color: String(t.c ?? "#888888"),
        alpha: num(t.a, 1),
      })),
      masks: list(source.masks).map((m, i) => ({ entry: entries[i + 1], alpha: num(m.a, 1) })),
    };
    this.image = entries[0];
    this.title.textContent = this.source.id;
    if (sizeChanged) {
      const ratio = window.devicePixelRatio || 1;
      this.canvas.width = Math.round(this.source.dw * ratio);
      this.canvas.height = Math.round(this.source.dh * ratio);
      this.canvas.style.width = `${this.source.dw}px`;
      this.canvas.style.height = `${this.source.dh}px`;
      this.view = { s: 1, tx: 0, ty: 0 };
    }
    this.paint();
    if (this.image && !this.image.ready && !this.image.failed) {
      settled(this.image).then(() => { if (this.image === entries[0]) this.paint(); });
    }
  }

  scale() {
    return (this.source.dw / this.source.w) * this.view.s;
  }

  paint() {
    const src = this.source;
    if (!src) return;
    const ctx = this.ctx;
    const ratio = this.canvas.width / src.dw;
    const k = this.scale();
    const { tx, ty } = this.view;
    const X = (x) => x * k + tx;
    const Y = (y) => y * k + ty;
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.globalAlpha = 1;
    ctx.fillStyle = "#222222";
    ctx.fillRect(0, 0, src.dw, src.dh);
    if (this.image && this.image.ready) ctx.drawImage(this.image.image, tx, ty, src.w * k, src.h * k);
    for (const mask of src.masks) {
      if (!mask.entry || !mask.entry.ready) continue;
      ctx.globalAlpha = mask.alpha;
      ctx.drawImage(mask.entry.image, tx, ty, src.w * k, src.h * k);
    }
    const chosen = new Set(this.owner.chosen());
    const path = (rings, closed) => {
      ctx.beginPath();
      for (const ring of rings) {
        ctx.moveTo(X(ring[0]), Y(ring[1]));
        for (let i = 2; i + 1 < ring.length; i += 2) ctx.lineTo(X(ring[i]), Y(ring[i + 1]));
        if (closed) ctx.closePath();
      }
    };
    for (const shape of src.shapes) {
      path(shape.rings, true);
      ctx.globalAlpha = shape.alpha * 0.15;
      ctx.fillStyle = shape.color;
      ctx.fill("evenodd");
      ctx.globalAlpha = shape.alpha;
      ctx.strokeStyle = shape.color;
      ctx.lineWidth = chosen.has(shape.id) ? 4 : 2;
      ctx.setLineDash(shape.dashed ? DASH : []);
      ctx.stroke();
    }
    for (const line of src.lines) {
      path(line.rings, false);
      ctx.globalAlpha = line.alpha;
      ctx.strokeStyle = line.color;
      ctx.lineWidth = 2;
      ctx.setLineDash(line.dashed ? DASH : []);
      ctx.stroke();
    }
    ctx.setLineDash([]);
    for (const point of src.points) {
      ctx.beginPath();
      ctx.arc(X(point.x), Y(point.y), 4, 0, 2 * Math.PI);
      ctx.globalAlpha = point.alpha;
      ctx.fillStyle = point.color;
      ctx.fill();
      ctx.lineWidth = 1;
      ctx.strokeStyle = "#000000";
      ctx.stroke();
    }
    ctx.font = "11px sans-serif";
    ctx.textBaseline = "bottom";
    for (const text of src.texts) {
      const x = X(text.x), y = Y(text.y);
      const width = ctx.measureText(text.text).width;
      ctx.globalAlpha = text.alpha;
      ctx.fillStyle = text.color;
      ctx.fillRect(x, y - 14, width + 4, 14);
      ctx.fillStyle = "#ffffff";
      ctx.fillText(text.text, x + 2, y - 1);
    }
    ctx.globalAlpha = 1;
  }

  // The ROIs under the screen point (px, py) of the canvas: points, then lines, then the
  // shapes holding it, smallest first.
  hits(px, py) {
    const src = this.source;
    if (!src) return [];
    const k = this.scale();
    const x = (px - this.view.tx) / k, y = (py - this.view.ty) / k;
    const found = [];
    for (const point of src.points) {
      if (Math.hypot(point.x - x, point.y - y) <= 6 / k) found.push({ kind: "point", item: point, area: -1 });
    }
    for (const line of src.lines) {
      if (line.rings.some((ring) => nearLine(ring, x, y, 5 / k))) found.push({ kind: "line", item: line, area: 0 });
    }
    for (const shape of src.shapes) {
      if (inside(shape.rings, x, y)) found.push({ kind: "shape", item: shape, area: boxArea(shape.rings) });
    }
    return found.sort((a, b) => a.area - b.area);
  }

  at(event) {
    const rect = this.canvas.getBoundingClientRect();
    return [event.clientX - rect.left, event.clientY - rect.top];
  }

  listen() {
    const canvas = this.canvas;
    let drag = null;
    canvas.addEventListener("wheel", (event) => {
      if (!this.source) return;
      event.preventDefault();
      const [px, py] = this.at(event);
      const factor = Math.exp(-event.deltaY * 0.0015);
      const s = Math.min(Math.max(this.view.s * factor, 0.5), 50);
      const f = s / this.view.s;
      this.view = { s, tx: px - (px - this.view.tx) * f, ty: py - (py - this.view.ty) * f };
      this.paint();
    }, { passive: false });
    canvas.addEventListener("pointerdown", (event) => {
      const [px, py] = this.at(event);
      drag = { px, py, tx: this.view.tx, ty: this.view.ty, moved: false };
      canvas.setPointerCapture(event.pointerId);
    });
    canvas.addEventListener("pointermove", (event) => {
      const [px, py] = this.at(event);
      if (drag !== null) {
        if (Math.hypot(px - drag.px, py - drag.py) > 3) drag.moved = true;
        if (drag.moved) {
          this.view = { ...this.view, tx: drag.tx + px - drag.px, ty: drag.ty + py - drag.py };
          this.paint();
          this.owner.hideTip();
          return;
        }
      }
      this.pointer = { px, py, event };
      this.tipAt();
    });
    canvas.addEventListener("pointerleave", () => {
      this.pointer = null;
      this.owner.hideTip();
    });
    canvas.addEventListener("pointerup", (event) => {
      const wasDrag = drag !== null && drag.moved;
      drag = null;
      if (wasDrag) return;
      const [px, py] = this.at(event);
      const shape = this.hits(px, py).find((f) => f.kind === "shape");
      const id = shape ? shape.item.id : null;
      this.owner.choose(id, event.shiftKey);
    });
    canvas.addEventListener("dblclick", () => this.fit());
    this.reset.addEventListener("click", () => this.fit());
  }

  fit() {
    this.view = { s: 1, tx: 0, ty: 0 };
    this.paint();
  }

  // The tooltip of the ROIs under the mouse; a frame played from the buffer came without
  // hover rows: they are asked for, and shown when they come (`setTips`).
  tipAt() {
    if (!this.pointer || !this.source) return;
    const { px, py, event } = this.pointer;
    const found = this.hits(px, py).slice(0, MAX_TIPS);
    if (!found.length) {
      this.owner.hideTip();
      return;
    }
    if (found.some((f) => f.item.hover === null)) this.owner.askTips();
    this.owner.showTip(found.map((f) => f.item.hover ?? [["", "…"]]), event);
  }

  // The hover rows of this source's ROIs ({shapes, lines, points}: lists in item order).
  setTips(rows) {
    if (!this.source) return;
    for (const kind of ["shapes", "lines", "points"]) {
      const given = list(rows?.[kind]);
      this.source[kind].forEach((item, i) => {
        if (Array.isArray(given[i])) item.hover = hoverRows(given[i]);
      });
    }
    this.tipAt();
  }
}

// Announce the drawn frame's position to the parts listening on `channel`: the player's
// label, controls and timeline, the grid (its active tile in frames mode), the sample title.
function announce(channel, frameId, pos) {
  const detail = {
    channel,
    f: String(frameId ?? ""),
    i: Math.max(Math.trunc(num(pos?.i, 0)), 0),
    n: Math.max(Math.trunc(num(pos?.n, 0)), 0),
    t: String(pos?.t ?? ""),
    s: Array.isArray(pos?.s) ? pos.s.slice(0, 2).map((x) => String(x ?? "")) : null,
  };
  (window.__wbPositions ??= new Map()).set(channel, detail);
  document.dispatchEvent(new CustomEvent("wb-position", { detail }));
}

export function render({ model }) {
  const root = element("div", "wb-frame-root");
  const badges = element("div", "wb-badges");
  const row = element("div", "wb-frame-row");
  const tip = element("div", "wb-tooltip");
  tip.hidden = true;
  root.append(badges, row, tip);

  // Classifications above the pictures: the label as text, the field as the tooltip.
  function drawBadges(found) {
    const fragment = document.createDocumentFragment();
    for (const badge of list(found)) {
      const node = element("span", "wb-badge", badge.t);
      node.title = String(badge.f ?? "");
      node.style.background = String(badge.c ?? "#cccccc");
      fragment.append(node);
    }
    badges.replaceChildren(fragment);
  }
  const made = []; // a view per source position, kept for the next frames
  let onScreen = 0;
  let shown = 0; // the latest frame_json asked for; older ones that finish late are dropped
  let drawn = 0;
  const viewAt = (i) => (made[i] ??= new SourceView(owner));

  const owner = {
    chosen: () => list(model.chosen).map(String),
    choose(id, shift) {
      const now = owner.chosen();
      let next;
      if (id === null) next = shift ? now : [];
      else if (shift) next = now.includes(id) ? now.filter((c) => c !== id) : [...now, id];
      else next = now.length === 1 && now[0] === id ? [] : [id];
      if (next.length !== now.length || next.some((c, i) => c !== now[i])) model.chosen = next;
    },
    showTip(items, event) {
      const fragment = document.createDocumentFragment();
      for (const rows of items) {
        const block = element("div", "wb-tip-item");
        for (const [name, value] of rows) {
          const line = element("div", "wb-tip-row");
          line.append(element("span", "wb-tip-name", `${name}:`), element("span", "wb-tip-value", value));
          block.append(line);
        }
        fragment.append(block);
      }
      tip.replaceChildren(fragment);
      const rect = root.getBoundingClientRect();
      tip.style.left = `${event.clientX - rect.left + 14}px`;
      tip.style.top = `${event.clientY - rect.top + 14}px`;
      tip.hidden = false;
    },
    hideTip() {
      tip.hidden = true;
    },
    askTips() {
      const frame = root.dataset.frame ?? "";
      if (frame && tipsAsked !== frame) {
        tipsAsked = frame;
        model.send_msg({ tips: frame });
      }
    },
  };
  let tipsAsked = ""; // the frame whose hover rows were asked for last

  // The hover rows asked for ({frame, sources: [{shapes, lines, points}]}), if that frame
  // is still the one on screen.
  function takeTips() {
    const found = parsed(model.tips_json || "{}", {});
    if (String(found.frame ?? "") !== (root.dataset.frame ?? "")) return;
    list(found.sources).forEach((rows, i) => { if (i < onScreen) made[i].setTips(rows); });
  }

  // A frame to draw ({frame, badges, sources, pos}): its pictures are decoded first; a
  // newer frame asked for meanwhile wins.
  async function drawFrame(frame) {
    const asked = ++shown;
    const sources = list(frame.sources);
    const showing = Promise.all(sources.map((source, i) => viewAt(i).show(source)));
    fetchAhead(frame.ahead); // after this frame's own pictures
    const commits = await showing;
    if (asked !== shown) return; // a newer frame came meanwhile
    if (onScreen !== sources.length) {
      onScreen = sources.length;
      row.replaceChildren(...made.slice(0, onScreen).map((v) => v.el));
    }
    commits.forEach((commit) => commit());
    drawBadges(frame.badges);
    owner.hideTip();
    drawn += 1;
    const views = made.slice(0, onScreen);
    root.dataset.frame = String(frame.frame ?? "");
    root.dataset.drawn = String(drawn);
    root.dataset.texts = String(views.reduce((n, v) => n + v.source.texts.length, 0));
    if (frame.pos) {
      at = Math.max(Math.trunc(num(frame.pos.i, 0)), 0);
      atFrame = String(frame.frame ?? "");
      count = Math.max(Math.trunc(num(frame.pos.n, 0)), 0);
      announce(String(model.channel), frame.frame, frame.pos);
    }
  }

  function draw() {
    const frame = parsed(model.frame_json, { sources: [] });
    if (frame.follow && fromBuffer) return; // the page shows that frame or a later one
    buffer.clear();
    asking = null;
    fromBuffer = false;
    near = frame.near && typeof frame.near === "object" ? frame.near : null;
    drawFrame(frame);
  }

  // -- a step drawn before the server's answer ----------------------------------------
  let near = null; // the neighbours of the server's last frame, until one is drawn
  const stepClass = `wb-step-${String(model.channel)}`;

  // The frame a step goes to ("1", "-1", "m1", "m-1"), drawn at once if the server sent it.
  function stepTo(key) {
    if (near === null) return;
    let frame = near[key];
    if (typeof frame === "string") frame = near[frame]; // the same frame as a neighbour
    if (!frame || typeof frame !== "object") return;
    near = null; // the next ones come with the server's frame
    drawFrame(frame);
  }
  const STEPS = [["wb-next-match", "m1"], ["wb-prev-match", "m-1"], ["wb-next", "1"], ["wb-prev", "-1"]];

  function stepClicked(event) {
    if (near === null) return;
    const host = event.composedPath().find((node) => node.classList?.contains(stepClass));
    const found = host && STEPS.find(([name]) => host.classList.contains(name));
    if (found) stepTo(found[1]);
  }
  document.addEventListener("click", stepClicked, { capture: true });
  model.on("remove", () => document.removeEventListener("click", stepClicked, { capture: true }));

  function stepAsked(event) {
    const detail = event.detail;
    if (!detail || detail.channel !== String(model.channel)) return;
    const step = Math.sign(num(detail.step, 0));
    if (step) stepTo(`${detail.match ? "m" : ""}${step}`);
  }
  document.addEventListener("wb-step", stepAsked);
  model.on("remove", () => document.removeEventListener("wb-step", stepAsked));

  // The next frames' pictures, fetched and decoded ahead (playback draws them at once).
  function fetchAhead(urls) {
    for (const url of list(urls).slice(0, KEPT / 2)) if (typeof url === "string" && url) picture(url);
  }

  // -- playing from the buffer ----------------------------------------------------------
  const buffer = new Map(); // position -> frame
  let at = 0; // the position drawn last, out of `count` frames
  let count = 0;
  let atFrame = ""; // its frame id
  let fromBuffer = false; // whether the frame drawn last came from the buffer
  let asking = null; // {to, dir, when}: the frames up to position `to` are asked for

  function takeBatch() {
    const found = parsed(model.batch_json || "{}", {});
    const frames = list(found.frames);
    for (const frame of frames) {
      const i = Math.trunc(num(frame?.pos?.i, NaN));
      if (!Number.isFinite(i)) continue;
      buffer.set(i, frame);
      for (const source of list(frame.sources)) {
        fetchAhead([source.url, ...list(source.masks).map((m) => m.url)]);
      }
    }
    while (buffer.size > BUFFERED) buffer.delete(buffer.keys().next().value);
  }

  // Ask for the frames after those held or asked for from position i on (in `dir`; `prime`:
  // after i), while fewer than `size` are: a short batch first when none are (playing
  // starts sooner), then batches of `size`.
  function askAhead(i, dir, prime, size) {
    const now = performance.now();
    if (asking && (asking.dir !== dir || now - asking.when > ASK_AGAIN_MS)) asking = null;
    let next = prime ? i + dir : i;
    while (buffer.has(next) || (asking && dir * (asking.to - next) >= 0)) next += dir;
    while (dir * (next - i) <= size && next >= 0 && next < count) {
      const n = next === (prime ? i + dir : i) ? Math.min(FIRST_BATCH, size) : size;
      model.send_msg({ more: { at, frame: atFrame, from: next, dir, count: n } });
      asking = { to: next + dir * (n - 1), dir, when: now };
      next += dir * n;
    }
  }

  function play(event) {
    const detail = event.detail;
    if (!detail || detail.channel !== String(model.channel)) return;
    detail.buffered = true;
    const dir = Math.sign(num(detail.dir, 0));
    const i = Math.trunc(num(detail.i, -1));
    if (!dir) return;
    for (const kept of buffer.keys()) if (dir * (kept - i) < -1) buffer.delete(kept);
    const frame = detail.prime ? undefined : buffer.get(i);
    if (frame !== undefined) {
      detail.has = true;
      fromBuffer = true;
      near = null; // another frame's neighbours
      if (list(model.chosen).length) model.chosen = []; // as a step from the server does
      drawFrame(frame);
    }
    const size = Math.min(Math.max(Math.trunc(num(detail.size, 8)), FIRST_BATCH), MAX_BATCH);
    askAhead(i, dir, Boolean(detail.prime), size);
  }
  document.addEventListener("wb-play", play);
  model.on("remove", () => document.removeEventListener("wb-play", play));

  model.on("frame_json", draw);
  model.on("batch_json", takeBatch);
  model.on("tips_json", takeTips);
  const fetchListed = () => fetchAhead(parsed(model.urls_json, []));
  model.on("urls_json", fetchListed);
  fetchListed();
  model.on("chosen", () => made.slice(0, onScreen).forEach((v) => v.paint()));
  draw();
  return root;
}
