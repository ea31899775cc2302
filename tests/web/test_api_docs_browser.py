"""The API docs page in a real browser (Debian's chromium, Playwright): the Swagger UI the
hub serves from flask-swagger-ui's files (5.x, no CDN) renders the hub's OpenAPI document
under the strict CSP (no inline script or style), asking nothing of another host."""

from __future__ import annotations

import shutil

import pytest

from tests.fixtures.sso import LiveServer

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - dev dependency
    sync_playwright = None  # type: ignore[assignment]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_swagger_ui_renders_the_api_under_the_csp(app):
    live = LiveServer().start(app)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            tab = browser.new_page()
            violations: list[str] = []
            elsewhere: list[str] = []
            tab.on(
                "console",
                lambda m: "Content Security Policy" in m.text and violations.append(m.text),
            )
            tab.on(
                "request",
                lambda r: r.url.startswith(live.url) or elsewhere.append(r.url),
            )
            tab.goto(live.url + "/api/v1/docs")
            tab.wait_for_selector(".opblock-summary-path", timeout=30_000)
            assert "/api/v1/people" in tab.inner_text(".swagger-ui")
            browser.close()
    finally:
        live.stop()
    assert violations == []
    assert elsewhere == []
