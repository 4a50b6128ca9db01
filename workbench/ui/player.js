// The player's play controls, run in the page: play forwards or backwards at the footage's
// rate (`model.interval` ms per frame, times the speed chosen here), pause, slower, faster.
//
// Where the player is comes from the viewer: once it has drawn a frame, it announces the
// frame's position on the page ("wb-position" events for `model.channel`, see
// frame_view.js). Playing asks the server for the frame due at each tick (`send_msg({go})`),
// at most AHEAD frames beyond the one drawn last: a slow moment skips frames instead of
// piling requests up. `model.direction` (1, -1, 0 for paused) is shared with the server
// (the space key plays and pauses from there).

const AHEAD = 6; // frames asked for and not drawn yet, at most
const STALL_MS = 1000; // ask again if nothing was drawn for this long
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
  const pause = button("⏸", "wb-pause", "Pause (space)");
  const play = button("▶", "wb-play", "Play (space)");
  const faster = button("»", "wb-faster", "Faster");
  const speedText = element("span", "wb-speed");
  root.append(slower, back, pause, play, faster, speedText);
  let at = { i: 0, n: 0 }; // the position drawn last
  let speed = 2; // index in SPEEDS
  let timer = null;
  let clock = { start: 0, from: 0, dir: 0 }; // when and where playing started
  let asked = { i: -1, at: 0 };

  const direction = () => Math.sign(Number(model.direction) || 0);

  function showState() {
    const dir = direction();
    const few = at.n < 2;
    for (const b of [slower, back, pause, play, faster]) b.disabled = few;
    play.classList.toggle("wb-on", dir > 0);
    back.classList.toggle("wb-on", dir < 0);
    speedText.textContent = SPEEDS[speed] === 1 ? "" : `×${SPEEDS[speed]}`;
  }

  function restart() {
    clearTimeout(timer);
    timer = null;
    clock = { start: performance.now(), from: at.i, dir: direction() };
    asked = { i: at.i, at: clock.start };
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
    const due = clock.from + dir * Math.floor((now - clock.start) / period());
    const target = Math.min(Math.max(due, 0), at.n - 1);
    const waiting = dir * (asked.i - at.i);
    if (target !== asked.i && (waiting < AHEAD || now - asked.at > STALL_MS)) {
      asked = { i: target, at: now };
      model.send_msg({ go: target });
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
