// The thumbnail grid: every tile of a page drawn from one list of plain objects.
//
// The page arrives as one JSON string, `model.page_json` ({mode, page, total, empty_text,
// tiles}: see GridPage in workbench/ui/grid.py, and workbench/ui/tiles.py for the tiles'
// fields), and is drawn into one fragment that replaces the old tiles. Every value in a tile
// comes from data (ids, labels, colours), so the DOM is built with createElement,
// textContent and setAttribute, never from markup: a label is text, whatever it holds.
// Selection and the open tile are separate properties, so selecting does not resend the
// page. Clicks go back to Python with model.send_msg. `element`, `pairs`, `drawTiles` and
// `listenTiles` come from tiles_common.js, loaded in front of this file.

const SVG_NS = "http://www.w3.org/2000/svg";

function svgElement(tag, attributes) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  return node;
}

// The rings as one SVG path ("M x,y x,y ..." per ring, closed with Z for polygons).
function path(rings, closed) {
  const parts = [];
  for (const ring of rings) {
    const points = Array.isArray(ring) ? pairs(ring) : "";
    if (points) parts.push(`M${points}${closed ? "Z" : ""}`);
  }
  return parts.join(" ");
}

// The ROIs of one kind and colour as SVG elements in source pixels (one path for every
// polygon or every line); the svg's viewBox maps them onto the thumbnail.
function roiShapes(roi, strokeWidth) {
  const color = String(roi.c ?? "");
  const common = { stroke: color, "stroke-width": strokeWidth, "vector-effect": "non-scaling-stroke" };
  const rings = Array.isArray(roi.p) ? roi.p : [];
  if (roi.k === "poly") {
    return [svgElement("path", { d: path(rings, true), fill: color, "fill-opacity": 0.06, ...common })];
  }
  if (roi.k === "line") {
    return [svgElement("path", { d: path(rings, false), fill: "none", ...common })];
  }
  if (roi.k === "pt") {
    const dots = [];
    for (const ring of rings) {
      for (let i = 0; i + 1 < ring.length; i += 2) {
        dots.push(svgElement("circle", {
          cx: Number(ring[i]), cy: Number(ring[i + 1]), r: strokeWidth * 2, fill: color, ...common,
        }));
      }
    }
    return dots;
  }
  return [];
}

function tileNode(tile) {
  const w = Number(tile.width) || 1;
  const h = Number(tile.height) || 1;
  const stroke = Math.max(w, h) / 220;
  const node = element("div", "wb-tile");
  node.setAttribute(tile.kind === "frame" ? "data-frame-id" : "data-context-id", String(tile.id ?? ""));
  node.title = String(tile.tooltip ?? tile.title ?? "");

  const thumb = element("div", "wb-thumb");
  if (tile.thumb) {
    const img = element("img");
    img.loading = "lazy";
    img.decoding = "async";
    img.draggable = false;
    img.src = String(tile.thumb);
    thumb.append(img);
  } else {
    thumb.append(element("div", "wb-noimage", "no image"));
  }
  const svg = svgElement("svg", { viewBox: `0 0 ${w} ${h}`, preserveAspectRatio: "xMidYMid meet" });
  for (const roi of tile.rois || []) svg.append(...roiShapes(roi, stroke));
  const badges = element("div", "wb-badges-row");
  for (const badge of tile.badges || []) {
    const span = element("span", "wb-badge", badge.t);
    span.style.background = String(badge.c ?? "");
    badges.append(span);
  }
  thumb.append(svg, badges);

  const caption = element("div", "wb-caption");
  caption.append(element("div", "wb-title", tile.title));
  for (const line of tile.lines || []) caption.append(element("div", "wb-line", line));
  node.append(thumb, caption);
  return node;
}

export function render({ model, el }) {
  const root = element("div", "wb-grid-root");
  const idOf = (node) => node.dataset.contextId ?? node.dataset.frameId;

  function drawMarks() {
    const marks = JSON.parse(model.marks_json || "{}");
    for (const node of root.children) {
      const id = idOf(node);
      const thumb = node.querySelector(".wb-thumb");
      if (id === undefined || !thumb) continue;
      thumb.querySelector(".wb-marks")?.remove();
      const found = Array.isArray(marks[id]) ? marks[id] : [];
      if (!found.length) continue;
      const row = element("div", "wb-marks");
      for (const mark of found) {
        const kind = ["tag", "run", "invalid"].includes(mark.k) ? mark.k : "tag";
        row.append(element("span", `wb-mark wb-mark-${kind}`, mark.t));
      }
      thumb.append(row);
    }
  }

  function sizeTiles() {
    root.style.setProperty("--wb-tile", `${Number(model.tile_size) || 168}px`);
  }

  // In frames mode the open frame's tile follows the frame the viewer drew last (announced
  // in the page with the frame: a frame step sends nothing to the grid).
  let drawnFrame = null;
  function activeId() {
    return root.dataset.mode === "frames" && drawnFrame !== null ? drawnFrame : model.active;
  }
  const channel = String(model.channel ?? "");
  if (channel) {
    const heard = (event) => {
      if (!event.detail || event.detail.channel !== channel) return;
      drawnFrame = String(event.detail.f ?? "");
      if (root.dataset.mode === "frames") markSelection();
    };
    document.addEventListener("wb-position", heard);
    model.on("remove", () => document.removeEventListener("wb-position", heard));
  }

  function markSelection() {
    const selected = new Set(model.selected);
    const active = activeId();
    for (const node of root.children) {
      const id = idOf(node);
      if (id === undefined) continue;
      node.classList.toggle("wb-selected", selected.has(id));
      node.classList.toggle("wb-active", id === active);
    }
  }

  function draw() {
    const page = JSON.parse(model.page_json);
    const tiles = page.tiles || [];
    root.dataset.mode = page.mode;
    root.dataset.page = String(page.page);
    root.dataset.total = String(page.total);
    drawTiles(root, tiles, tileNode, page.empty_text);
    markSelection();
    drawMarks();
  }

  listenTiles(root, model, ".wb-tile", idOf);

  model.on("page_json", draw);
  model.on("selected", markSelection);
  model.on("active", () => { drawnFrame = null; markSelection(); });
  model.on("marks_json", drawMarks);
  model.on("tile_size", sizeTiles);
  sizeTiles();
  draw();
  return root;
}
