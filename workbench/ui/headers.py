"""Security headers on every response of the served app, and the app's Content-Security-Policy.

The app shows every value from data as text (workbench.ui.text); the CSP is the second line:
should a value ever reach the page as markup, an inline event handler (`onerror=`), an
injected `<script>` or a `javascript:` URL in it does not run.

Bokeh and Panel write a few inline `<script>` blocks into each page (the session token, the
loader), different on every request. `SecurityHeaders`, a Tornado output transform, gives
every `<script>` tag of each HTML response a fresh random nonce as it leaves the server and
allows that nonce, and no other inline script, in `script-src`; `script-src-attr 'none'` says
outright that no event handler attribute runs. An HTML page is always written in one piece
(Bokeh's and Panel's handlers `finish()` it whole); a page that arrived in pieces would get the
policy without a nonce, which blocks its inline scripts rather than allowing them. Every other
response (media, JSON, scripts) gets a policy that loads and runs nothing should a browser be
pointed at it directly: an SVG or HTML file under a media root is inert.

What Bokeh and Panel force (measured in headless Chromium, tests/security/test_xss_csp.py):
- a nonce rather than hashes: Panel loads the grid's ES module through es-module-shims, which
  tests the browser in an iframe with an inline script and imports modules from `blob:` URLs
  through scripts it creates; it puts the page's nonce (the first `script[nonce]`) on them, and
  module imports inherit it, so `script-src` needs neither `blob:` nor hashes of scripts made
  at run time. It does fetch those `blob:` URLs: `connect-src` has `blob:`.
- no `'unsafe-eval'`: nothing in BokehJS or Panel's JS that the app uses evaluates strings.
- `style-src 'unsafe-inline'`: Bokeh and Panel set styles inline and through `<style>`
  elements they create; styles run no script.
"""

from __future__ import annotations

import secrets
from html.parser import HTMLParser

from tornado.httputil import HTTPHeaders
from tornado.web import OutputTransform

# Every directive of the app's pages but script-src, which carries the page's nonce.
PAGE_POLICY = (
    "default-src 'self'",
    "script-src-attr 'none'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    "media-src 'self'",
    "connect-src 'self' blob:",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'self'",
)
SCRIPT_SOURCES = ("'self'",)
# Anything that is not one of the app's pages: no script, no plugin, no frame, no form.
OTHER_POLICY = (
    "default-src 'none'; img-src 'self' data:; media-src 'self'; style-src 'unsafe-inline'; "
    "frame-ancestors 'self'; sandbox"
)
REFERRER_POLICY = "same-origin"


def page_policy(nonce: str | None) -> str:
    """The Content-Security-Policy of an HTML page whose own `<script>` tags carry `nonce`
    (None: no inline script runs at all)."""
    sources = (*SCRIPT_SOURCES, f"'nonce-{nonce}'") if nonce else SCRIPT_SOURCES
    return "; ".join((PAGE_POLICY[0], " ".join(("script-src", *sources)), *PAGE_POLICY[1:]))


def add_nonce(page: str, nonce: str) -> str:
    """`page` with `nonce="..."` on each of its `<script>` tags (found by an HTML parser, so
    text that merely looks like a tag inside a script or a comment is left alone)."""
    parser = _ScriptTags()
    parser.feed(page)
    parser.close()
    line_starts = [0, *(i + 1 for i, c in enumerate(page) if c == "\n")]
    cut = [line_starts[line - 1] + column + len("<script") for line, column in parser.tags]
    pieces, last = [], 0
    for at in cut:
        pieces += [page[last:at], f' nonce="{nonce}"']
        last = at
    return "".join([*pieces, page[last:]])


class SecurityHeaders(OutputTransform):
    """Adds the CSP, `X-Content-Type-Options: nosniff` and `Referrer-Policy` to every response
    of the Tornado application it is added to (`app.add_transform(SecurityHeaders)`); gives
    the `<script>` tags of an HTML page a fresh nonce. A response whose handler set a CSP of
    its own keeps it."""

    def transform_first_chunk(
        self, status_code: int, headers: HTTPHeaders, chunk: bytes, finishing: bool
    ) -> tuple[int, HTTPHeaders, bytes]:
        content_type = headers.get("Content-Type", "").split(";")[0].strip().lower()
        if "Content-Security-Policy" in headers:
            pass  # the handler's own (the media route's), which knows what it sends
        elif content_type != "text/html":
            headers["Content-Security-Policy"] = OTHER_POLICY
        elif finishing and chunk:
            nonce = secrets.token_urlsafe(18)
            page = add_nonce(chunk.decode("utf-8", errors="surrogateescape"), nonce)
            chunk = page.encode("utf-8", errors="surrogateescape")
            headers["Content-Length"] = str(len(chunk))
            headers["Content-Security-Policy"] = page_policy(nonce)
        else:
            headers["Content-Security-Policy"] = page_policy(None)
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Referrer-Policy"] = REFERRER_POLICY
        return status_code, headers, chunk


class _ScriptTags(HTMLParser):
    """Where each `<script>` start tag is: (line from 1, column from 0)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[int, int]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self.tags.append(self.getpos())
