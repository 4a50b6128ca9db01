"""Driving a notebook in JupyterLab or Notebook 7 the way a person does, with playwright.

Cells are run from the page (menus, Shift+Enter, a typed cell); what the page shows is read
from the DOM (playwright's CSS locators look into Panel's shadow roots).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")
TIMEOUT_MS = 120_000

# How many code cells are running, not run, and run ("[*]:", "[ ]:", "[3]:").
_PROMPTS_JS = """() => {
  const texts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]
    .map((p) => p.textContent);
  return {
    busy: texts.filter((t) => t.includes('*')).length,
    empty: texts.filter((t) => !/[*\\d]/.test(t)).length,
    done: texts.filter((t) => /\\d/.test(t)).length,
  };
}"""

# Elements of `root` (shadow roots included) whose right edge is past `right`: cut off.
_OVERFLOW_JS = """([root, right]) => {
  const out = [];
  const stack = [root];
  while (stack.length) {
    const node = stack.pop();
    for (const el of node.querySelectorAll('*')) {
      if (el.shadowRoot) stack.push(el.shadowRoot);
      const box = el.getBoundingClientRect();
      const style = getComputedStyle(el);
      if (box.width > 0 && box.height > 0 && style.visibility !== 'hidden'
          && box.right > right + 1) {
        out.push(`${el.tagName.toLowerCase()}.${String(el.className).slice(0, 60)}`
                 + ` right=${Math.round(box.right)}`);
      }
    }
  }
  return out;
}"""


def outside_loopback(urls: list[str]) -> list[str]:
    """The requests that left this machine (data: and blob: URLs never do)."""
    return [
        url
        for url in urls
        if urlsplit(url).scheme not in ("data", "blob")
        and (urlsplit(url).hostname or "") not in LOOPBACK
    ]


@dataclass
class NotebookPage:
    """A notebook open in JupyterLab (or Notebook 7), with what the page requested and logged."""

    page: Any
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)

    @classmethod
    def open(cls, context: Any, url: str) -> NotebookPage:
        page = context.new_page()
        opened = cls(page)
        context.on("request", lambda request: opened.requests.append(request.url))
        page.on("pageerror", lambda exc: opened.errors.append(str(exc)))
        page.on(
            "console",
            lambda msg: opened.console.append(f"{msg.type}: {msg.text[:500]}")
            if msg.type in ("error", "warning")
            else None,
        )
        page.goto(url, wait_until="load")
        page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=TIMEOUT_MS)
        opened.wait_kernel_idle()
        return opened

    def wait_kernel_idle(self) -> None:
        """Wait until the page is connected to an idle kernel (the Run menu acts only then)."""
        self.page.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]').first.wait_for(
            timeout=TIMEOUT_MS
        )

    def menu(self, *path: str) -> None:
        """Click through the menu bar, e.g. menu("Run", "Run All Cells")."""
        for name in path:
            item = self.page.get_by_role("menuitem", name=name, exact=True).first
            item.wait_for(state="visible", timeout=TIMEOUT_MS)
            # A menu opens before its commands know the notebook's state: an item clicked
            # while it is still disabled does nothing.
            self.page.wait_for_function(
                "(item) => item.getAttribute('aria-disabled') !== 'true'",
                arg=item.element_handle(),
                timeout=TIMEOUT_MS,
            )
            item.hover()
            item.click()

    def run_all(self) -> float:
        """Clear every output, run every cell from the Run menu, wait until all have run.
        Returns the seconds it took.

        Right after a kernel starts, JupyterLab now and then loses the first executions
        (its kernel websocket is refused once and reconnects): the cells come back not run,
        and a person clicks Run All again. So does this, twice at most.
        """
        # The Edit and Run menus act on the notebook that has the focus.
        self.page.locator(".jp-Notebook .jp-Cell .jp-InputPrompt").first.click()
        self.menu("Edit", "Clear Outputs of All Cells")
        self.page.wait_for_function(
            f"() => {{ const p = ({_PROMPTS_JS})(); return p.empty > 0 && p.done === 0; }}",
            timeout=TIMEOUT_MS,
        )
        start = time.monotonic()
        for _ in range(3):
            self.menu("Run", "Run All Cells")
            if self._wait_ran():
                return time.monotonic() - start
        raise AssertionError("Run All Cells ran nothing three times")

    def _wait_ran(self) -> bool:
        """True once every code cell has an execution count; False if the cells stay not
        run (nothing busy) for five seconds."""
        deadline = time.monotonic() + TIMEOUT_MS * 3 / 1000
        stalled_since: float | None = None
        while time.monotonic() < deadline:
            prompts = self.page.evaluate(_PROMPTS_JS)
            if prompts["busy"]:
                stalled_since = None
            elif prompts["empty"] == 0 and prompts["done"] > 0:
                return True
            elif stalled_since is None:
                stalled_since = time.monotonic()
            elif time.monotonic() - stalled_since > 5:
                return False
            time.sleep(0.2)
        raise AssertionError(f"the notebook still runs after {TIMEOUT_MS * 3 / 1000} s")

    def code_cell(self, source: str) -> Any:
        """The code cell whose input contains `source`."""
        return self.page.locator(".jp-CodeCell").filter(
            has=self.page.locator(".jp-InputArea", has_text=source)
        )

    def tracebacks(self) -> list[str]:
        outputs = self.page.locator(".jp-OutputArea-output")
        return [text for text in outputs.all_inner_texts() if "Traceback" in text]

    def run_cell(self, cell: Any) -> float:
        """Run one cell with Shift+Enter; returns the seconds until its prompt shows a count."""
        prompt = cell.locator(".jp-InputArea-prompt")
        before = prompt.text_content()
        cell.locator(".jp-InputArea-editor").click()
        start = time.monotonic()
        self.page.keyboard.press("Shift+Enter")
        # Run: the prompt shows a new execution count ("[ ]:" or "[7]:" before, "[8]:" after).
        self.page.wait_for_function(
            "([p, before]) => /\\[\\d+\\]/.test(p.textContent) && p.textContent !== before",
            arg=[prompt.element_handle(), before],
            timeout=TIMEOUT_MS,
        )
        return time.monotonic() - start

    def add_cell(self, code: str) -> Any:
        """Type `code` in a new cell at the end of the notebook, run it, return the cell."""
        cells = self.page.locator(".jp-Cell")
        count = cells.count()
        cells.nth(count - 1).locator(".jp-InputArea-prompt").click()
        self.page.keyboard.press("Escape")
        self.page.keyboard.press("b")
        self.page.wait_for_function(
            "(n) => document.querySelectorAll('.jp-Notebook .jp-Cell').length > n",
            arg=count,
            timeout=TIMEOUT_MS,
        )
        # Pinned by position: Shift+Enter on the last cell adds another one after it.
        cell = cells.nth(count)
        cell.locator(".jp-InputArea-editor").click()
        self.page.keyboard.insert_text(code)
        self.run_cell(cell)
        return cell

    def print_in_new_cell(self, expression: str) -> str:
        """Run `print(expression)` in a new cell and return what it printed."""
        cell = self.add_cell(f"print({expression})")
        output = cell.locator(".jp-OutputArea-output").first
        output.wait_for(timeout=TIMEOUT_MS)
        return str(output.inner_text()).strip()

    def overflow(self, container: Any) -> list[str]:
        """Elements inside `container` that reach past its right edge."""
        box = container.bounding_box()
        return list(self.page.evaluate(_OVERFLOW_JS, [container.element_handle(), box["x"] + box["width"]]))

    def screenshot(self, name: str, element: Any | None = None) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        (element or self.page).screenshot(path=str(path))
        return path
