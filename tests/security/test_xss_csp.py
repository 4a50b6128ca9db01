"""The Content-Security-Policy, the second line behind showing data as text.

The policy and the nonce are checked as functions, then on the responses of a real `workbench
serve`, then in headless Chromium: the app runs with the policy enforced and reports no
violation of its own, and markup put into the page behind the app's back (escaping bypassed
on purpose, from page.evaluate) runs nothing and is reported.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from workbench.ui.headers import (
    OTHER_POLICY,
    REFERRER_POLICY,
    SecurityHeaders,
    add_nonce,
    page_policy,
)

IDLE_JS = (
    "() => window.Bokeh !== undefined && Bokeh.documents.length > 0 && Bokeh.documents[0].is_idle"
)
# Installed before the page's own scripts: every violation the browser reports, in order.
RECORD_VIOLATIONS_JS = """
window.__violations = [];
document.addEventListener('securitypolicyviolation', (e) => window.__violations.push(
  {directive: e.effectiveDirective, blocked: e.blockedURI, sample: e.sample}), true);
"""


def directives(policy: str) -> dict[str, list[str]]:
    out = {}
    for part in policy.split(";"):
        name, *values = part.split()
        out[name] = values
    return out


# -- the policy as a function ---------------------------------------------------------------


def test_page_policy_allows_only_its_nonce_and_no_inline_handler():
    policy = directives(page_policy("abc123"))
    assert policy["script-src"] == ["'self'", "'nonce-abc123'"]
    assert policy["script-src-attr"] == ["'none'"]
    assert policy["object-src"] == ["'none'"] and policy["base-uri"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'self'"]
    assert policy["connect-src"] == ["'self'", "blob:"]
    assert policy["img-src"] == ["'self'", "data:", "blob:"]
    everything = page_policy("abc123")
    assert "'unsafe-inline'" not in " ".join(policy["script-src"])
    assert "'unsafe-eval'" not in everything and "*" not in everything


def test_a_page_known_only_in_part_runs_no_inline_script():
    assert directives(page_policy(None))["script-src"] == ["'self'"]


def test_other_responses_are_sandboxed():
    policy = directives(OTHER_POLICY)
    assert policy["default-src"] == ["'none'"] and "sandbox" in policy


def test_add_nonce_marks_every_script_tag_and_nothing_else():
    page = (
        '<html><head><script src="static/a.js"></script>\n'
        "<SCRIPT type='text/javascript'>const s = '<script>not a tag</script>';</SCRIPT>"
        "</head><body><!-- <script>commented</script> -->"
        '<p title="<script>">text &lt;script&gt;</p>\n'
        '<script type="application/json" id="j">{"a": "&lt;/script&gt;"}</script>'
        "</body></html>"
    )
    marked = add_nonce(page, "N0nce")
    assert marked.count('nonce="N0nce"') == 3
    assert marked.replace(' nonce="N0nce"', "") == page
    assert "<SCRIPT nonce=\"N0nce\" type='text/javascript'>" in marked
    assert "<!-- <script>commented</script> -->" in marked


def test_the_transform_sets_headers_and_a_fresh_nonce():
    from tornado.httputil import HTTPHeaders

    def run(content_type: str, body: bytes, finishing: bool = True) -> tuple[Any, bytes]:
        headers = HTTPHeaders({"Content-Type": content_type, "Content-Length": str(len(body))})
        _, headers, chunk = SecurityHeaders(None).transform_first_chunk(  # type: ignore[arg-type]
            200, headers, body, finishing
        )
        return headers, chunk

    page = "<html><script>go()</script><p>é</p></html>".encode()
    headers, chunk = run("text/html; charset=UTF-8", page)
    nonce = re.search(r"'nonce-([^']+)'", headers["Content-Security-Policy"]).group(1)
    assert chunk.decode() == f'<html><script nonce="{nonce}">go()</script><p>é</p></html>'
    assert headers["Content-Length"] == str(len(chunk))
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == REFERRER_POLICY
    again, _ = run("text/html", page)
    assert again["Content-Security-Policy"] != headers["Content-Security-Policy"]
    streamed, chunk = run("text/html", page, finishing=False)
    assert chunk == page and "nonce" not in streamed["Content-Security-Policy"]
    other, chunk = run("image/svg+xml", b"<svg onload='x()'/>")
    assert other["Content-Security-Policy"] == OTHER_POLICY and chunk == b"<svg onload='x()'/>"
    # a handler's own policy stays (the media route's error pages are HTML, and sandboxed)
    headers = HTTPHeaders({"Content-Type": "text/html", "Content-Security-Policy": "sandbox"})
    _, kept, chunk = SecurityHeaders(None).transform_first_chunk(  # type: ignore[arg-type]
        403, headers, page, True
    )
    assert kept["Content-Security-Policy"] == "sandbox" and chunk == page


# -- the served app's responses -------------------------------------------------------------


def test_every_response_of_the_server_carries_the_headers(demo_server: Any, demo_catalog: Any):
    picture = next((demo_catalog.parent / "media").rglob("*.jpg"))
    uri = quote(str(picture), safe="")
    responses = {
        "/": demo_server.get("/"),
        "file": demo_server.get(f"/media/file?uri={uri}"),
        "thumbnail": demo_server.get(f"/media/thumb/64?uri={uri}"),
        "outside the roots": demo_server.get(f"/media/file?uri={quote('/etc/passwd', safe='')}"),
        "missing thumbnail": demo_server.get(f"/media/thumb/64?uri={uri}.missing"),
        "api": demo_server.get("/api/v1/"),
        "static": demo_server.get("/static/js/bokeh.min.js"),
        "liveness": demo_server.get("/liveness"),
        "unknown": demo_server.get("/no/such/page"),
    }
    assert responses["file"].status_code == 200 and responses["thumbnail"].status_code == 200
    assert responses["outside the roots"].status_code == 403
    assert responses["missing thumbnail"].status_code == 404
    for name, response in responses.items():
        assert response.headers["x-content-type-options"] == "nosniff", name
        assert response.headers["referrer-policy"] == REFERRER_POLICY, name
        assert "content-security-policy" in response.headers, name
    page = responses["/"]
    policy = directives(page.headers["content-security-policy"])
    (nonce_source,) = [s for s in policy["script-src"] if s.startswith("'nonce-")]
    nonce = nonce_source[len("'nonce-") : -1]
    tags = re.findall(r"<script\b[^>]*>", page.text, flags=re.IGNORECASE)
    assert tags and all(f'nonce="{nonce}"' in tag for tag in tags)
    for name in ("file", "thumbnail", "outside the roots", "missing thumbnail", "api", "static"):
        assert responses[name].headers["content-security-policy"] == OTHER_POLICY, name


# -- in the browser, enforced ---------------------------------------------------------------


@pytest.fixture
def enforced(browser: Any, demo_server: Any) -> Iterator[Any]:
    """A tab on the demo app with the CSP enforced; its console errors are collected."""
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    page = context.new_page()
    page.add_init_script(RECORD_VIOLATIONS_JS)
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(demo_server.url, wait_until="load")
        page.wait_for_function(IDLE_JS)
        page.wait_for_selector("div.wb-grid-root .wb-tile")
        page.errors = errors
        yield page
    finally:
        context.close()


def violations(page: Any) -> list[dict[str, str]]:
    return page.evaluate("window.__violations")


@pytest.mark.browser
def test_the_app_works_with_the_policy_and_reports_no_violation(enforced: Any):
    page = enforced
    page.locator("div.wb-grid-root .wb-tile").nth(1).click()
    page.wait_for_function(IDLE_JS)
    page.locator(".wb-next button").click()
    page.wait_for_function(IDLE_JS)
    page.locator(".wb-labels input").first.click()
    page.locator(".wb-grid-mode button", has_text="frames").click()
    page.wait_for_function(IDLE_JS)
    page.locator(".wb-send button").click()
    page.wait_for_function(IDLE_JS)
    page.locator(".wb-send-dialog .wb-preview button").click()
    page.wait_for_function(IDLE_JS)
    assert page.locator("div.wb-grid-root .wb-tile").count() > 0
    assert violations(page) == []
    assert [e for e in page.errors if "Content Security Policy" in e] == []
    # es-module-shims took the page's nonce: the grid's module loaded under the policy
    assert page.evaluate("() => typeof importShim") == "function"


@pytest.mark.browser
def test_markup_injected_behind_the_apps_back_runs_nothing(enforced: Any):
    page = enforced
    ran = page.evaluate(
        """() => new Promise((resolve) => {
          const box = document.createElement('div');
          // escaping bypassed on purpose: an event handler, a javascript: link, an svg onload
          box.innerHTML = '<img src="x" onerror="window.__xss = 1">'
            + '<a id="js-link" href="javascript:window.__xss = 2">link</a>'
            + '<svg onload="window.__xss = 3"></svg>';
          document.body.append(box);
          document.getElementById('js-link').click();
          // a script without the page's nonce, added from script (an injection gadget)
          const script = document.createElement('script');
          script.textContent = 'window.__xss = 4';
          document.body.append(script);
          setTimeout(() => resolve(window.__xss ?? null), 1000);
        })"""
    )
    assert ran is None
    reported = {v["directive"] for v in violations(page)}
    assert {"script-src-attr", "script-src-elem"} <= reported
    assert any("Content Security Policy" in e for e in page.errors)
