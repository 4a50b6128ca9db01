// The position the viewer announced last (frame_view.js, once a frame is drawn), for the
// parts that follow it: put in front of their module by timeline.py `following`.

// Calls `show(position)` with every position announced for the model's channel, the last
// one known first.
function follow(model, show) {
  const channel = String(model.channel ?? "");
  const heard = (event) => {
    if (event.detail && event.detail.channel === channel) show(event.detail);
  };
  document.addEventListener("wb-position", heard);
  model.on("remove", () => document.removeEventListener("wb-position", heard));
  const last = window.__wbPositions?.get(channel);
  if (last) show(last);
}
