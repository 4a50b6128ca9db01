// What the thumbnail grid (grid.js) and the patches view (patches.js) share: both are a page
// of tiles built from plain objects (values from data are text: createElement,
// textContent, setAttribute, never markup), clicked and double-clicked back to Python.
// Loaded in front of each of them (workbench/ui/tiles.py joins the files).

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = String(text ?? "");
  return node;
}

// Coordinates are numbers: anything else in a ring is dropped, not written into an attribute.
function pairs(flat) {
  const out = [];
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const x = Number(flat[i]);
    const y = Number(flat[i + 1]);
    if (Number.isFinite(x) && Number.isFinite(y)) out.push(`${x},${y}`);
  }
  return out.join(" ");
}

// The items of a page drawn into `root` as one fragment (`empty` when there are none);
// `root.dataset.version` counts the drawings (browser tests wait for it to change).
function drawTiles(root, items, nodeOf, empty) {
  const fragment = document.createDocumentFragment();
  if (items.length) {
    for (const item of items) fragment.append(nodeOf(item));
  } else {
    fragment.append(element("div", "wb-empty", empty));
  }
  root.replaceChildren(fragment);
  root.dataset.version = String(Number(root.dataset.version ?? 0) + 1);
}

// Clicks on the tiles (`selector`) go to Python as {event: "click", id, shift, ctrl} and
// double clicks as {event: "open", id}; `idOf(node)` names a tile.
function listenTiles(root, model, selector, idOf) {
  const tileId = (event) => {
    const node = event.target.closest(selector);
    return node ? idOf(node) : null;
  };
  root.addEventListener("mousedown", (event) => {
    // Shift-click would otherwise select the captions' text.
    if (event.shiftKey) event.preventDefault();
  });
  root.addEventListener("click", (event) => {
    const id = tileId(event);
    if (id === null || id === undefined) return;
    model.send_msg({ event: "click", id, shift: event.shiftKey, ctrl: event.ctrlKey || event.metaKey });
  });
  root.addEventListener("dblclick", (event) => {
    const id = tileId(event);
    if (id !== null && id !== undefined) model.send_msg({ event: "open", id });
  });
}
