// The patches view: one tile per ROI, the crop around it from the frame's thumbnail.
//
// The page arrives as one JSON string (`model.page_json`: {page, total, empty_text, patches};
// see workbench/ui/patches.py). Every value in a patch comes from data, so the DOM is built
// with createElement, textContent and setAttribute, never from markup. The crop is the
// thumbnail scaled and moved with CSSOM properties (no style attribute, nothing inline), and
// the ROI's outline is an SVG whose viewBox is the crop, in source pixels. `element`,
// `pairs`, `drawTiles` and `listenTiles` come from tiles_common.js, loaded in front of this
// file (as for the grid).

const SVG_NS = "http://www.w3.org/2000/svg";
const SIDE = 128;

function num(value, fallback) {
  const n = Number(value);
  return Number.isFinite(n) ? n : fallback;
}

function patchNode(patch) {
  const node = element("div", "wb-patch");
  node.dataset.patchId = String(patch.id ?? "");
  node.dataset.frameId = String(patch.frame_id ?? "");
  node.title = String(patch.tooltip ?? "");
  const thumb = element("div", "wb-patch-thumb");
  const crop = Array.isArray(patch.crop) ? patch.crop.map((v) => num(v, 0)) : [0, 0, 1, 1];
  const [cx, cy, side] = [crop[0], crop[1], Math.max(crop[2], 1)];
  const scale = SIDE / side;
  if (patch.thumb) {
    const img = element("img");
    img.loading = "lazy";
    img.decoding = "async";
    img.draggable = false;
    img.src = String(patch.thumb);
    img.style.width = `${num(patch.width, 1) * scale}px`;
    img.style.height = `${num(patch.height, 1) * scale}px`;
    img.style.left = `${-cx * scale}px`;
    img.style.top = `${-cy * scale}px`;
    thumb.append(img);
  }
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", `${cx} ${cy} ${side} ${side}`);
  const color = String(patch.color ?? "");
  for (const ring of Array.isArray(patch.rings) ? patch.rings : []) {
    const poly = document.createElementNS(SVG_NS, "polygon");
    poly.setAttribute("points", pairs(Array.isArray(ring) ? ring : []));
    poly.setAttribute("fill", "none");
    poly.setAttribute("stroke", color);
    poly.setAttribute("stroke-width", "2");
    poly.setAttribute("vector-effect", "non-scaling-stroke");
    svg.append(poly);
  }
  thumb.append(svg);
  const caption = element("div", "wb-patch-caption");
  caption.append(element("div", "wb-patch-title", patch.title));
  for (const line of patch.lines || []) caption.append(element("div", "wb-patch-line", line));
  if (patch.outcome) {
    const badge = element("span", "wb-patch-outcome", patch.outcome);
    badge.style.background = color;
    caption.append(badge);
  }
  node.append(thumb, caption);
  return node;
}

export function render({ model, el }) {
  const root = element("div", "wb-patches-root");

  function markSelection() {
    const selected = new Set(model.selected);
    for (const node of root.children) {
      if (node.dataset.patchId !== undefined) {
        node.classList.toggle("wb-selected", selected.has(node.dataset.patchId));
      }
    }
  }

  function draw() {
    const page = JSON.parse(model.page_json);
    const patches = page.patches || [];
    root.dataset.page = String(page.page);
    root.dataset.total = String(page.total);
    drawTiles(root, patches, patchNode, page.empty_text);
    markSelection();
  }

  listenTiles(root, model, ".wb-patch", (node) => node.dataset.patchId);
  model.on("page_json", draw);
  model.on("selected", markSelection);
  draw();
  return root;
}
