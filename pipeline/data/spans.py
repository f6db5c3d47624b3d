"""Data spans: `span-N` folders of CSV files, and which of them a run reads."""

from __future__ import annotations

import re
from pathlib import Path

from pipeline.config import BeamMode, ConfigError, PipelineConfig, SpanSelection, is_uri
from pipeline.data import input_files

SPAN_PREFIX = "span-"


SPAN_PATTERN = SPAN_PREFIX + "{SPAN}/" + input_files.DATA_FILE_PATTERN


SPAN_FILE = "data.csv"


_SPAN_DIR = re.compile(rf"^{SPAN_PREFIX}(\d+)$")


class SpanError(ConfigError):
    """A span folder or a file to ingest is unusable; the message names it and why."""


def local_data_dir(config: PipelineConfig) -> Path:
    """The config's data_dir as a local folder, for what reads its files here (span window, data
    fingerprint, input checks); a URI data_dir (only a cluster can read it) is a SpanError."""
    if is_uri(config.data_dir):
        raise SpanError(
            f"invalid config data_dir: {config.data_dir} is a URI; spans, data fingerprint and "
            "input checks read a local data_dir")
    return Path(config.data_dir)


def list_spans(data_dir: Path) -> list[int]:
    """Span numbers of the `span-N` folders in the data dir, ascending."""
    if not data_dir.is_dir():
        return []
    return span_numbers([p.name for p in data_dir.iterdir() if p.is_dir()])


def span_dir(data_dir: Path, span: int) -> Path:
    """Folder of one span."""
    return data_dir / f"{SPAN_PREFIX}{span}"




def resolve_spans(data_dir: Path, selection: SpanSelection) -> tuple[int, ...]:
    """The spans a run reads, ascending: () for a plain folder of CSVs, else the selected window."""
    return select_spans(list_spans(data_dir), selection, str(data_dir))


def span_numbers(names: list[str]) -> list[int]:
    """Span numbers of the `span-N` names among folder names, ascending (any filesystem)."""
    numbers = [_SPAN_DIR.match(name.rstrip("/")) for name in names]
    return sorted(int(m.group(1)) for m in numbers if m)


def select_spans(found: list[int], selection: SpanSelection, data_dir: str) -> tuple[int, ...]:
    """The window `selection` picks among the spans found in `data_dir` (named in errors)."""
    if selection.newest is not None:
        return tuple(found[-selection.newest:])
    if not found:
        raise SpanError(f"{data_dir} has no span-N folders, cannot select spans {selection}")
    if selection.first is None or selection.last is None:
        raise SpanError(f"span selection {selection!r} has neither a newest count nor a first..last range")
    wanted = range(selection.first, selection.last + 1)
    missing = [span for span in wanted if span not in found]
    if missing:
        raise SpanError(
            f"{data_dir} is missing span(s) {', '.join(map(str, missing))} of the selected "
            f"range {selection} (spans: {found})"
        )
    return tuple(wanted)


def input_folders(data_dir: Path, window: tuple[int, ...]) -> list[Path]:
    """The folders a run reads CSV files from: each span's of the window, or data_dir itself."""
    return [span_dir(data_dir, span) for span in window] or [data_dir]


def input_bytes(data_dir: Path | str, selection: SpanSelection) -> int:
    """Size of the CSV files a run reads; 0 for a URI, which only the cluster can list."""
    if "://" in str(data_dir):
        return 0
    folders = input_folders(Path(data_dir), resolve_spans(Path(data_dir), selection))
    # Unreadable entries are left to the pre-flight, which names them.
    return sum(path.stat().st_size for folder in folders
               for path in input_files.list_folder(folder).files)


def beam_mode_reason(config: PipelineConfig) -> str:
    """Why the run's Beam mode is what it is (auto: the input's size), for the console."""
    return config.beam_mode_reason(input_bytes(config.data_dir, config.spans))


def with_beam_mode_for_input(config: PipelineConfig) -> PipelineConfig:
    """The config with an `auto` Beam mode decided by the size of what the run reads (the mode
    is recorded resolved, so every runner and the unchanged-run check resolve it here)."""
    if config.beam_mode is not BeamMode.AUTO:
        return config
    return config.for_input_size(input_bytes(config.data_dir, config.spans))
