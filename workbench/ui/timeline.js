// The player's timeline: every frame of the open context as a bar (matching frames tall and
// in colour), the current frame as a red line. A click on a bar sends its position to the
// server (`send_msg({index})`); hovering shows the frame's id and timestamp as text.
//
// The frames arrive as one JSON string, `model.frames_json` ({ids, matching, timestamps}: see
// workbench/ui/timeline.py) when the context or its matches change; the current position is
// the one the viewer announces once it has drawn a frame ("wb-position" events for
// `model.channel`, see frame_view.js): a frame step sends nothing here and redraws one small
// canvas.

const MATCH = "#0072b5";
const OTHER = "#c8c8c8";
const CURSOR = "#d62728";
const HEIGHT = 56;
const AXIS = 14; // px under the bars for the positions' numbers

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = String(text ?? "");
  return node;
}

function list(value) {
  return Array.isArray(value) ? value : [];
}

// A round step between numbered ticks, about every 80 px.
function tickStep(count, width) {
  const raw = Math.max(count / Math.max(width / 80, 1), 1);
  const power = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * power >= raw) return m * power;
  return 10 * power;
}

export function render({ model }) {
  const root = element("div", "wb-timeline-root");
  const canvas = element("canvas", "wb-timeline-canvas");
  const tip = element("div", "wb-timeline-tooltip");
  tip.hidden = true;
  root.append(canvas, tip);
  const ctx = canvas.getContext("2d");
  let frames = { ids: [], matching: new Set(), timestamps: [] };
  let width = 0;
  let index = -1; // the position drawn last by the viewer

  function read() {
    let parsed;
    try {
      parsed = JSON.parse(model.frames_json);
    } catch {
      parsed = {};
    }
    frames = {
      ids: list(parsed.ids).map(String),
      matching: new Set(list(parsed.matching).map(Number)),
      timestamps: list(parsed.timestamps).map((t) => String(t ?? "")),
    };
  }

  function paint() {
    width = Math.max(root.clientWidth, 100);
    const ratio = window.devicePixelRatio || 1;
    if (canvas.width !== Math.round(width * ratio)) {
      canvas.width = Math.round(width * ratio);
      canvas.height = Math.round(HEIGHT * ratio);
      canvas.style.width = `${width}px`;
      canvas.style.height = `${HEIGHT}px`;
    }
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, HEIGHT);
    const n = frames.ids.length;
    if (!n) return;
    const slot = width / n;
    const bars = HEIGHT - AXIS;
    for (let i = 0; i < n; i++) {
      const match = frames.matching.has(i);
      const top = match ? 2 : bars / 2;
      ctx.fillStyle = match ? MATCH : OTHER;
      ctx.fillRect(i * slot + slot * 0.1, top, Math.max(slot * 0.8, 1), bars - top);
    }
    ctx.fillStyle = "#555555";
    ctx.font = "10px sans-serif";
    ctx.textBaseline = "top";
    ctx.textAlign = "center";
    const step = tickStep(n, width);
    for (let i = 0; i < n; i += step) ctx.fillText(String(i), (i + 0.5) * slot, bars + 2);
    if (index >= 0 && index < n) {
      ctx.fillStyle = CURSOR;
      ctx.fillRect((index + 0.5) * slot - 1, 0, 2, bars);
    }
  }

  function position(event) {
    const rect = canvas.getBoundingClientRect();
    const n = frames.ids.length;
    if (!n) return null;
    const i = Math.floor(((event.clientX - rect.left) / rect.width) * n);
    return i >= 0 && i < n ? i : null;
  }

  canvas.addEventListener("pointermove", (event) => {
    const i = position(event);
    if (i === null) {
      tip.hidden = true;
      return;
    }
    tip.replaceChildren(
      element("div", "", `frame: ${frames.ids[i]}`),
      element("div", "", `timestamp: ${frames.timestamps[i] ?? ""}`),
    );
    const rect = root.getBoundingClientRect();
    const left = Math.min(event.clientX - rect.left + 12, Math.max(rect.width - 260, 0));
    tip.style.left = `${left}px`;
    tip.hidden = false;
  });
  canvas.addEventListener("pointerleave", () => { tip.hidden = true; });
  canvas.addEventListener("click", (event) => {
    const i = position(event);
    if (i !== null && i !== index) model.send_msg({ index: i });
  });

  model.on("frames_json", () => { read(); paint(); });
  follow(model, (position) => {
    if (position.i !== index) {
      index = position.i;
      paint();
    }
  });
  new ResizeObserver(() => { if (Math.max(root.clientWidth, 100) !== width) paint(); }).observe(root);
  read();
  paint();
  return root;
}
