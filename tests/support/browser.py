"""A real browser for UI tests: Debian's Chromium driven by Playwright, headless."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pipeline.config import PROJECT_ROOT

INSTALL_SCRIPT = PROJECT_ROOT / "scripts" / "install-chromium.sh"
VIEWPORT = {"width": 1400, "height": 900}
# A normal laptop page: what a notebook's rendered outputs must fit without scrolling sideways.
PAGE_WIDTH = 1280
PAGE_TIMEOUT_MS = 30_000


def chromium_executable() -> str:
    """Debian's Chromium, installed on first use so a fresh machine needs no manual step."""
    path = shutil.which("chromium")
    if path is None:
        subprocess.run(["bash", str(INSTALL_SCRIPT)], check=True)
        path = shutil.which("chromium")
    if path is None:
        raise FileNotFoundError(f"chromium not found after {INSTALL_SCRIPT.name}")
    return path


@contextmanager
def chromium_page() -> Iterator[Any]:
    """A fresh headless page whose errors and failed requests are recorded for page_problems()."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_executable(), headless=True, args=["--no-sandbox"]
        )
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.set_default_timeout(PAGE_TIMEOUT_MS)
            page._pipeline_problems = _recorded_problems(page)  # read by page_problems()
            yield page
        finally:
            browser.close()


# Chromium reports a layout that needed another resize pass as a console "error"; the HTML spec calls it a
# notice (nothing is lost, the next frame delivers it), and whether it shows depends on the machine's speed.
RESIZE_OBSERVER_NOTICE = "ResizeObserver loop completed with undelivered notifications."


def _recorded_problems(page: Any) -> list[str]:
    """A list that fills with what a user would see as broken: console errors, failed or 4xx/5xx requests."""
    problems: list[str] = []

    def on_console(message: Any) -> None:
        if message.type == "error" and not message.text.endswith(RESIZE_OBSERVER_NOTICE):
            problems.append(f"console error: {message.text}")

    def on_response(response: Any) -> None:
        if response.status >= 400:
            problems.append(f"HTTP {response.status}: {response.request.method} {response.url}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("requestfailed", lambda req: problems.append(f"request failed: {req.method} {req.url}"))
    page.on("response", on_response)
    return problems


def page_problems(page: Any) -> list[str]:
    """Console errors, uncaught page errors, failed requests and HTTP errors seen on this page so far."""
    return list(page._pipeline_problems)


# Every rendered output (table, text, image) wider than its box, and the page wider than the window.
_OVERFLOWS_JS = """() => {
  const found = [];
  const root = document.documentElement;
  if (root.scrollWidth > window.innerWidth) found.push(`page ${root.scrollWidth} > ${window.innerWidth} px`);
  document.querySelectorAll('.jp-OutputArea-output').forEach((output, i) => {
    const widest = Math.max(output.scrollWidth,
      ...[...output.querySelectorAll('table, img, pre')].map(e => e.getBoundingClientRect().width));
    if (widest > output.clientWidth + 1) {
      const text = output.innerText.trim().slice(0, 40);
      found.push(`output ${i} (${text}): ${widest} > ${output.clientWidth} px`);
    }
  });
  return found;
}"""


def render_notebook(page: Any, notebook: Any) -> None:
    """The notebook as nbconvert renders it to HTML, opened at PAGE_WIDTH."""
    from nbconvert import HTMLExporter

    html, _ = HTMLExporter().from_notebook_node(notebook)
    page.set_viewport_size({"width": PAGE_WIDTH, "height": VIEWPORT["height"]})
    page.set_content(html, wait_until="load")


def output_overflows(page: Any) -> list[str]:
    """The rendered notebook's outputs that are wider than the notebook column (a reader would
    scroll sideways), and the page if it is wider than the window."""
    return list(page.evaluate(_OVERFLOWS_JS))
