// The thumbnail grid: every tile of a page drawn from one list of plain objects.
//
// The page arrives as one JSON string, `model.page_json` ({mode, page, total, empty_text,
// tiles}: see GridPage in workbench/ui/grid.py, and workbench/ui/tiles.py for the tiles'
// fields), and is drawn with one innerHTML. Selection and the open tile are separate
// properties, so selecting does not resend the page. Clicks go back to Python with
// model.send_msg.

const SVG_NS = "http://www.w3.org/2000/svg";

function escapeHtml(text) {
  return String(text ?? "")
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&#39;");
}

function pairs(flat) {
  const out = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push(`${flat[i]},${flat[i + 1]}`);
  return out.join(" ");
}

// One ROI as SVG markup in source pixels; the svg's viewBox maps them onto the thumbnail.
function roiSvg(roi, strokeWidth) {
  const color = escapeHtml(roi.c);
  const common = `stroke="${color}" stroke-width="${strokeWidth}" vector-effect="non-scaling-stroke"`;
  if (roi.k === "poly") {
    return roi.p.map((ring) => `<polygon points="${pairs(ring)}" fill="${color}" fill-opacity="0.15" ${common}/>`).join("");
  }
  if (roi.k === "line") {
    return roi.p.map((ring) => `<polyline points="${pairs(ring)}" fill="none" ${common}/>`).join("");
  }
  if (roi.k === "pt") {
    return roi.p.map((ring) => {
      let dots = "";
      for (let i = 0; i + 1 < ring.length; i += 2) {
        dots += `<circle cx="${ring[i]}" cy="${ring[i + 1]}" r="${strokeWidth * 2}" fill="${color}" ${common}/>`;
      }
      return dots;
    }).join("");
  }
  return "";
}

function tileHtml(tile) {
  const idAttr = tile.kind === "frame" ? "data-frame-id" : "data-context-id";
  const w = tile.width || 1;
  const h = tile.height || 1;
  const stroke = Math.max(w, h) / 160;
  const rois = (tile.rois || []).map((roi) => roiSvg(roi, stroke)).join("");
  const lines = (tile.lines || []).map((line) => `<div class="wb-line">${escapeHtml(line)}</div>`).join("");
  const badges = (tile.badges || [])
    .map((b) => `<span class="wb-badge" style="background:${escapeHtml(b.c)}">${escapeHtml(b.t)}</span>`)
    .join("");
  const img = tile.thumb
    ? `<img src="${escapeHtml(tile.thumb)}" loading="lazy" decoding="async" draggable="false">`
    : `<div class="wb-noimage">no image</div>`;
  return (
    `<div class="wb-tile" ${idAttr}="${escapeHtml(tile.id)}" title="${escapeHtml(tile.tooltip ?? tile.title)}">` +
    `<div class="wb-thumb">${img}` +
    `<svg xmlns="${SVG_NS}" viewBox="0 0 ${w} ${h}" preserveAspectRatio="xMidYMid meet">${rois}</svg>` +
    `<div class="wb-badges-row">${badges}</div></div>` +
    `<div class="wb-caption"><div class="wb-title">${escapeHtml(tile.title)}</div>${lines}</div>` +
    `</div>`
  );
}

export function render({ model, el }) {
  const root = document.createElement("div");
  root.className = "wb-grid-root";
  let version = 0;

  function markSelection() {
    const selected = new Set(model.selected);
    for (const node of root.children) {
      const id = node.dataset.contextId ?? node.dataset.frameId;
      if (id === undefined) continue;
      node.classList.toggle("wb-selected", selected.has(id));
      node.classList.toggle("wb-active", id === model.active);
    }
  }

  function draw() {
    const page = JSON.parse(model.page_json);
    const tiles = page.tiles || [];
    root.dataset.mode = page.mode;
    root.dataset.page = String(page.page);
    root.dataset.total = String(page.total);
    root.innerHTML = tiles.length
      ? tiles.map(tileHtml).join("")
      : `<div class="wb-empty">${escapeHtml(page.empty_text)}</div>`;
    markSelection();
    version += 1;
    root.dataset.version = String(version);
  }

  function tileId(event) {
    const node = event.target.closest(".wb-tile");
    return node ? (node.dataset.contextId ?? node.dataset.frameId) : null;
  }

  root.addEventListener("mousedown", (event) => {
    // Shift-click would otherwise select the captions' text.
    if (event.shiftKey) event.preventDefault();
  });
  root.addEventListener("click", (event) => {
    const id = tileId(event);
    if (id === null) return;
    model.send_msg({ event: "click", id, shift: event.shiftKey, ctrl: event.ctrlKey || event.metaKey });
  });
  root.addEventListener("dblclick", (event) => {
    const id = tileId(event);
    if (id !== null) model.send_msg({ event: "open", id });
  });

  model.on("page_json", draw);
  model.on(["selected", "active"], markSelection);
  draw();
  return root;
}
