"""The browser the UI tests use: it renders a page served over HTTP and reports what went wrong on it."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from tests.support.browser import chromium_page, page_problems

PAGE = """<!doctype html><html><head><title>probe</title></head>
<body><h1 id="greeting">served</h1><script>console.error("probe failure");</script>
<img src="/missing.png"></body></html>"""


@pytest.fixture()
def site(tmp_path: Path) -> Iterator[str]:
    """A local HTTP server for one page; the URL of that page."""
    (tmp_path / "index.html").write_text(PAGE)
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/index.html"
    finally:
        server.shutdown()
        server.server_close()


def test_chromium_renders_a_page_and_reports_its_console_errors(site: str) -> None:
    with chromium_page() as page:
        page.goto(site)
        assert page.title() == "probe"
        assert page.locator("#greeting").inner_text() == "served"
        page.wait_for_load_state("networkidle")
        problems = page_problems(page)
    assert any("probe failure" in problem for problem in problems)
    assert any("missing.png" in problem for problem in problems), problems
