"""Keyboard shortcuts of the app, heard once in the page and handled in Python.

    ←/→            previous/next frame (with shift: previous/next matching frame)
    n / p          next/previous sample (tile), across pages
    e              open (or leave) the sample view
    t              tag the open frame with the sample view's tag
    space          play or pause
    Escape         close the dialog, report or sample view on top

Keys typed into text boxes (the WHERE box, tags) are left alone, except Escape. Each
rendering of the app listens; the key event's time stamp lets Python act once per press.
With a `channel` (the viewer's), the arrows also tell the page's viewer of the step (a
"wb-step" event), which draws the frame at once when it holds it; the server follows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import panel as pn
import param

from workbench.ui.modules import ServedModule

KEYS = ("ArrowLeft", "ArrowRight", "Escape", "n", "p", "e", "t", " ")


class Keys(ServedModule, pn.custom.JSComponent):
    """Sends the shortcut keys to the handlers bound with `on(key, handler)`; a handler
    gets whether shift was held."""

    channel = param.String(default="", doc="The viewer told of the arrows' steps, if any.")

    _esm = """
    const KEYS = new Set(["ArrowLeft", "ArrowRight", "Escape", "n", "p", "e", "t", " "]);
    export function render({ model }) {
      const onKey = (event) => {
        if (!KEYS.has(event.key)) return;
        const target = event.composedPath()[0];
        const typing = target && (target.isContentEditable ||
          ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
        if ((typing && event.key !== "Escape") || event.ctrlKey || event.metaKey ||
            event.altKey) return;
        // A focused button would take space as a click too.
        if (event.key === " " && target && target.tagName === "BUTTON") return;
        event.preventDefault();
        if (model.channel && (event.key === "ArrowLeft" || event.key === "ArrowRight")) {
          // The viewer draws the step at once if it holds the frame (frame_view.js).
          const step = event.key === "ArrowRight" ? 1 : -1;
          const detail = { channel: String(model.channel), step, match: event.shiftKey };
          document.dispatchEvent(new CustomEvent("wb-step", { detail }));
        }
        model.send_msg({ key: event.key, shift: event.shiftKey, at: event.timeStamp });
      };
      document.addEventListener("keydown", onKey);
      model.on("remove", () => document.removeEventListener("keydown", onKey));
      return document.createElement("span");
    }
    """

    def __init__(self, **params: Any) -> None:
        params.setdefault("width", 0)
        params.setdefault("height", 0)
        params.setdefault("margin", 0)
        super().__init__(**params)
        self._handlers: dict[str, Callable[[bool], object]] = {}
        self._last_at: Any = None

    def on(self, key: str, handler: Callable[[bool], object]) -> None:
        """Call `handler(shift)` when `key` (one of KEYS) is pressed."""
        if key not in KEYS:
            raise ValueError(f"{key!r} is not a shortcut key: {', '.join(KEYS)}")
        self._handlers[key] = handler

    def press(self, key: str, shift: bool = False) -> None:
        """What pressing `key` does (tests and other views call it too)."""
        handler = self._handlers.get(key)
        if handler is not None:
            handler(shift)

    def _handle_msg(self, data: Any) -> None:
        if not isinstance(data, dict) or data.get("key") not in KEYS:
            return
        if data.get("at") is not None and data.get("at") == self._last_at:
            return
        self._last_at = data.get("at")
        self.press(str(data["key"]), bool(data.get("shift")))
