"""A real headless browser for the report's tests: the distribution's Chromium, driven by Playwright (its own
browser downloads are never used). Records console errors, failed page errors and every request that is not the
page itself."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM = next((p for p in (shutil.which("chromium"), shutil.which("chromium-browser"), "/usr/bin/chromium")
                 if p and Path(p).exists()), None)


@dataclass
class PageVisit:
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)  # every URL the page asked for besides itself
    figures: int = 0
    title: str = ""
    text: str = ""
    filtered_rows: int = -1  # rows of the results table left visible after typing into its filter


def visit(page_path: Path, screenshot: Path, filter_text: str = "") -> PageVisit:
    """Open ``page_path`` offline in headless Chromium, save a full-page screenshot, and report what happened."""
    from playwright.sync_api import sync_playwright

    if CHROMIUM is None:
        raise RuntimeError("chromium not found: install it (apt-get install chromium); ./bf test does this")
    out = PageVisit()
    url = page_path.resolve().as_uri()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            # no network at all for the page: a request that leaves it would fail, and is recorded either way
            ctx = browser.new_context(offline=True, viewport={"width": 1200, "height": 900})
            page = ctx.new_page()
            page.on("console", lambda m: out.console_errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: out.page_errors.append(str(e)))
            page.on("request", lambda r: out.requests.append(r.url) if r.url != url else None)
            page.goto(url, wait_until="load")
            out.title = page.title()
            out.figures = page.locator("figure svg").count()
            out.text = page.inner_text("body")
            if filter_text:
                page.fill("input.filter[data-table=results]", filter_text)
                out.filtered_rows = page.locator("#results tbody tr:visible").count()
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    return out
