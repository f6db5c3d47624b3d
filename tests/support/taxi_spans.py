"""Generated spans of the bundled taxi data (~250 rows each), for the continuous-training tests."""

from __future__ import annotations

from pathlib import Path

from pipeline.config import PROJECT_ROOT
from tools import span_demo
from tools import taxi as features

SOURCE = PROJECT_ROOT / "data" / "taxi" / "data.csv"
SPAN_ROWS = 250


def generated_csv(path: Path, seed: int, drift: span_demo.Drift = span_demo.NO_DRIFT,
                  serving_only: bool = False, rows: int = SPAN_ROWS) -> Path:
    """A generated span file, optionally without the label source (a request log)."""
    header, generated = span_demo.generate_rows(SOURCE, rows, seed=seed, days=7 * seed, drift=drift)
    if serving_only:
        header = [c for c in header if c != features.TIPS_KEY]
    return span_demo.write_rows(path, header, [{c: r[c] for c in header} for r in generated])
