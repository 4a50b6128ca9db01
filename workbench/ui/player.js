// The player's play controls, run in the page: play forwards or backwards at the footage's
// rate (`model.interval` ms per frame, times the speed chosen here), pause, slower, faster.
//
// Where the player is comes from the viewer: once it has drawn a frame, it announces the
// frame's position on the page ("wb-position" events for `model.channel`, see
// frame_view.js). Playing draws from frames the viewer holds: at each tick a "wb-play" event
// asks the viewer to draw the frame then due from its buffer (filled by the server in
// batches, see frame_view.js); until the first one is there, the clock waits. Without a
// viewer that holds frames (a player on its own), it asks the server for the frame due
// (`send_msg({go})`), at most AHEAD frames beyond the one drawn last: a slow moment skips
// frames instead of piling requests up. On pausing, the server is told the frame on screen
// (`go`). `model.direction` (1, -1, 0 for paused) is shared with the server (the space key
// plays and pauses from there).

const AHEAD = 6; // frames asked for and not drawn yet, at most
const STALL_MS = 1000; // ask again if nothing was drawn for this long
const BATCH_MS = 500; // playing time the viewer holds ahead, at least (and asks for at once)
const SPEEDS = [0.25, 0.5, 1, 2, 4];

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = String(text ?? "");
  return node;
}

function button(text, className, title) {
  const node = element("button", `wb-play-button ${className}`, text);
  node.type = "button";
  node.title = title;
  return node;
}

export function render({ model }) {
  const root = element("div", "wb-play-root");
  const slower = button("«", "wb-slower", "Slower");
  const back = button("◀", "wb-play-back", "Play backwards");
  // Two bars drawn by the stylesheet: the pause sign (U+23F8) is missing from common fonts.
  const pause = button("", "wb-pause", "Pause (space)");
  pause.setAttribute("aria-label", "Pause");
  pause.append(element("span", "wb-pause-bars"));
  const play = button("▶", "wb-play", "Play (space)");
  const faster = button("»", "wb-faster", "Faster");
  const speedText = element("span", "wb-speed");
  root.append(slower, back, pause, play, faster, speedText);
  let at = { i: 0, n: 0 }; // the position drawn last
  let speed = 2; // index in SPEEDS
  let timer = null;
  let clock = { start: 0, from: 0, dir: 0 }; // when and where playing started
  let asked = { i: -1, at: 0 }; // the frame asked for (or drawn from the buffer) last
  let waiting = false; // playing from the buffer, and nothing drawn from it yet

  const direction = () => Math.sign(Number(model.direction) || 0);

  function showState() {
    const dir = direction();
    const few = at.n < 2;
    for (const b of [slower, back, pause, play, faster]) b.disabled = few;
    play.classList.toggle("wb-on", dir > 0);
    back.classList.toggle("wb-on", dir < 0);
    speedText.textContent = SPEEDS[speed] === 1 ? "" : `×${SPEEDS[speed]}`;
  }

  // Ask the viewer to draw position i from the frames it holds: the event's detail then
  // says whether a viewer holds frames (`buffered`) and had this one (`has`); `prime` only
  // has it ask for frames ahead of i.
  function fromBuffer(i, dir, prime) {
    const size = Math.round(BATCH_MS / period()); // frames held ahead, at least
    const detail = { channel: String(model.channel ?? ""), i, dir, prime, size };
    document.dispatchEvent(new CustomEvent("wb-play", { detail }));
    return detail;
  }

  function restart() {
    clearTimeout(timer);
    timer = null;
    const stopped = clock.dir !== 0 && direction() === 0;
    clock = { start: performance.now(), from: at.i, dir: direction() };
    if (stopped && asked.i >= 0 && asked.i < at.n) model.send_msg({ go: asked.i }); // the frame on screen
    asked = { i: at.i, at: clock.start };
    waiting = clock.dir !== 0 && fromBuffer(at.i, clock.dir, true).buffered === true;
    showState();
    if (clock.dir) timer = setTimeout(tick, period());
  }

  function period() {
    return Math.max(Number(model.interval) || 100, 10) / SPEEDS[speed];
  }

  function tick() {
    timer = null;
    const dir = clock.dir;
    if (!dir || direction() !== dir || at.n < 2) return;
    const now = performance.now();
    if (waiting) clock.start = now - period(); // nothing from the buffer yet: the first frame is due
    const due = clock.from + dir * Math.floor((now - clock.start) / period());
    const target = Math.min(Math.max(due, 0), at.n - 1);
    if (target !== asked.i) {
      const held = fromBuffer(target, dir, false);
      if (held.has) {
        asked = { i: target, at: now };
        waiting = false;
      } else if (!held.buffered && (dir * (asked.i - at.i) < AHEAD || now - asked.at > STALL_MS)) {
        asked = { i: target, at: now };
        model.send_msg({ go: target });
      }
    }
    if (target === (dir > 0 ? at.n - 1 : 0) && asked.i === target) {
      model.direction = 0; // the end: played once
      return;
    }
    timer = setTimeout(tick, period() - ((now - clock.start) % period()));
  }

  function setDirection(dir) {
    if (direction() !== dir) model.direction = dir;
    restart();
  }

  play.addEventListener("click", () => setDirection(1));
  back.addEventListener("click", () => setDirection(-1));
  pause.addEventListener("click", () => setDirection(0));
  slower.addEventListener("click", () => { speed = Math.max(speed - 1, 0); restart(); });
  faster.addEventListener("click", () => { speed = Math.min(speed + 1, SPEEDS.length - 1); restart(); });
  model.on("direction", () => { if (direction() !== clock.dir) restart(); });
  model.on("interval", () => { if (clock.dir) restart(); });
  follow(model, (position) => {
    const moved = { i: position.i, n: position.n };
    const dir = clock.dir;
    // A step made elsewhere while playing (a key, the timeline): play on from there.
    const ours = dir === 0 || (dir * (moved.i - clock.from) >= 0 && dir * (asked.i - moved.i) >= 0);
    const other = moved.n !== at.n; // another context
    at = moved;
    if (!ours || other) restart();
    else showState();
  });
  showState();
  return root;
}
