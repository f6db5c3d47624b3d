"""The browser the UI tests use: it renders a page served over HTTP and reports what went wrong on it."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from pipeline.analysis import reports
from tests.support.browser import chromium_page, output_overflows, page_problems, render_notebook

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


def _notebook_showing(*htmls: str) -> nbformat.NotebookNode:
    """A notebook whose one code cell displayed these HTML outputs."""
    cell = nbformat.v4.new_code_cell("tables")
    cell.outputs = [nbformat.v4.new_output("display_data", {"text/html": html}) for html in htmls]
    return nbformat.v4.new_notebook(cells=[cell])


def _wide_tables() -> list[pd.DataFrame]:
    """A project's tables at their widest: many long metric names, big counts, long URIs."""
    metrics = {f"weighted_metric_{i}_of_the_project": [0.123456 * i, float("nan")] for i in range(14)}
    slices = pd.DataFrame({"example_count": pd.array([12_345_678, 2], dtype="Int64"), **metrics,
                           "note": ["", "n < 30; auc_precision_recall: one class"]},
                          index=["Overall", "pickup_community_area=77"])
    uris = pd.DataFrame({"value": ["gs://a-bucket/" + "very-long-folder-name/" * 12 + "model"]},
                        index=["training.model_uri"])
    return [slices, uris]


def test_notebook_tables_drawn_by_page_fit_a_1280_px_page() -> None:
    """The measure the notebooks' browser test applies: a plain pandas table overflows the
    notebook column, the same tables drawn by reports.page() do not, and show long text whole."""
    tables = _wide_tables()
    with chromium_page() as page:
        render_notebook(page, _notebook_showing(*(t.to_html() for t in tables)))
        assert output_overflows(page)
        render_notebook(page, _notebook_showing(*(reports.page(t)._repr_html_() for t in tables)))
        assert output_overflows(page) == []
        shown = page.locator("table.dataframe").all_inner_texts()
    assert len(shown) > len(tables)  # the wide one was split
    assert "12,345,678" in shown[0] and "NaN" in shown[0]
    assert "0.1235" in shown[0] and "0.123456" not in shown[0]
    assert tables[1].iloc[0, 0] in shown[-1].replace("\n", "")  # wrapped, not cut
