"""Bad input on every light command: a non-zero exit, one `error:` line, never a traceback.

Classes of bad input: a missing, empty, random-bytes or folder metadata store; a wrong path; a
file that is not UTF-8; a bad flag value. Commands run in-process through pipeline.__main__.main.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline.__main__ import main
from pipeline.config import PROJECT_ROOT
from pipeline.errors import EXIT_FAILED, EXIT_INVALID
from tests.support.configs import SAMPLE_DATA
from tests.support.mlmd_fake import evaluated_and_pushed_runs

SCHEMA = PROJECT_ROOT / "data" / "schema" / "schema.pbtxt"
MODELS_CONFIG = ('model_config_list { config { name: "taxi" base_path: "/x/taxi" '
                 'model_platform: "tensorflow" } }\n')
NOT_UTF8 = b"\xff\xfe\x00garbage\x80\n"


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Bad stores and files, a good store, and the log dir for tracebacks under tmp_path."""
    monkeypatch.setenv("PIPELINE_LOG_DIR", str(tmp_path / "logs"))
    random = tmp_path / "random.sqlite"
    random.write_bytes(os.urandom(4096))
    empty = tmp_path / "empty.sqlite"
    empty.write_bytes(b"")
    folder = tmp_path / "folder.sqlite"
    folder.mkdir()
    good = tmp_path / "good" / "metadata.sqlite"
    good.parent.mkdir()
    evaluated_and_pushed_runs(good, tmp_path / "good")
    not_utf8 = tmp_path / "latin1.csv"
    not_utf8.write_bytes(SAMPLE_DATA.joinpath("data.csv").read_bytes()[:2000] + NOT_UTF8)
    bad_data = tmp_path / "bad_data"
    bad_data.mkdir()
    (bad_data / "data.csv").write_bytes(not_utf8.read_bytes())
    outputs = tmp_path / "serving_config"
    outputs.mkdir()
    (outputs / "models.config").write_text(MODELS_CONFIG)
    corrupt = tmp_path / "corrupt_config"
    corrupt.mkdir()
    (corrupt / "models.config").write_bytes(NOT_UTF8)
    a_file = tmp_path / "a_file"
    a_file.write_text("not a folder")
    return {"random": random, "empty": empty, "missing": tmp_path / "missing.sqlite",
            "folder": folder, "good": good, "not_utf8": not_utf8, "bad_data": bad_data,
            "outputs": outputs, "corrupt": corrupt, "a_file": a_file, "tmp": tmp_path}


BAD_STORES = ("random", "empty", "missing", "folder")

# Each light command with --metadata pointing at a store `s`; f: the fixture's files.
STORE_COMMANDS: dict[str, Callable[[dict[str, Path], Path], list[str]]] = {
    "runs": lambda f, s: ["runs", "--metadata", str(s)],
    "lineage": lambda f, s: ["lineage", "--metadata", str(s)],
    "diff": lambda f, s: ["diff", "run-1", "run-2", "--metadata", str(s)],
    "versions": lambda f, s: ["versions", "--metadata", str(s)],
    "serving-config": lambda f, s: ["serving-config", "--metadata", str(s),
                                    "--output-dir", str(f["tmp"] / "out")],
    "rollback": lambda f, s: ["rollback", "--to", "1", "--metadata", str(s),
                              "--output-dir", str(f["outputs"])],
    "reproduce": lambda f, s: ["reproduce", "latest", "--metadata", str(s)],
    "monitor": lambda f, s: ["monitor", str(SAMPLE_DATA / "data.csv"), "--metadata", str(s),
                             "--state-dir", str(f["tmp"] / "monitoring")],
}

# (case id, argv from the fixture's files, exit code, text the error line must contain)
BAD_INPUT: list[tuple[str, Callable[[dict[str, Path]], list[str]], int, str]] = [
    ("lineage unknown version", lambda f: ["lineage", "--version", "9", "--metadata",
                                           str(f["good"])], EXIT_FAILED, "no pushed version '9'"),
    ("diff unknown run", lambda f: ["diff", "run-1", "run-9", "--metadata", str(f["good"])],
     EXIT_FAILED, "no run 'run-9'"),
    ("reproduce unknown run", lambda f: ["reproduce", "run-9", "--metadata", str(f["good"])],
     EXIT_FAILED, "run-9"),
    ("check-data missing dir", lambda f: ["check-data", "--data", str(f["tmp"] / "nope")],
     EXIT_INVALID, "data_dir"),
    ("check-data not utf-8", lambda f: ["check-data", "--data", str(f["bad_data"])],
     EXIT_FAILED, "bad_data"),
    ("check-data schema missing", lambda f: ["check-data", "--data", str(SAMPLE_DATA),
                                             "--schema", str(f["tmp"] / "nope.pbtxt")],
     EXIT_INVALID, "schema_path"),
    ("check-data schema not utf-8", lambda f: ["check-data", "--data", str(SAMPLE_DATA),
                                               "--schema", str(f["not_utf8"])],
     EXIT_INVALID, "latin1.csv"),
    ("check-data schema not a schema", lambda f: ["check-data", "--data", str(SAMPLE_DATA),
                                                  "--schema", str(SAMPLE_DATA / "data.csv")],
     EXIT_INVALID, "data.csv is not a text schema.pbtxt"),
    ("ingest missing file", lambda f: ["ingest", str(f["tmp"] / "nope.csv"), "--data",
                                       str(f["tmp"] / "spans")], EXIT_FAILED, "nope.csv"),
    ("ingest a folder", lambda f: ["ingest", str(f["bad_data"]), "--data",
                                   str(f["tmp"] / "spans")], EXIT_FAILED, "bad_data"),
    ("ingest not utf-8", lambda f: ["ingest", str(f["not_utf8"]), "--data",
                                    str(f["tmp"] / "spans")], EXIT_FAILED, "latin1.csv"),
    ("ingest schema missing", lambda f: ["ingest", str(SAMPLE_DATA / "data.csv"), "--data",
                                         str(f["tmp"] / "spans"), "--schema",
                                         str(f["tmp"] / "nope.pbtxt")], EXIT_INVALID, "nope.pbtxt"),
    ("predict missing file", lambda f: ["predict", "--server", "http://127.0.0.1:9",
                                        str(f["tmp"] / "nope.csv")], EXIT_FAILED, "nope.csv"),
    ("predict a folder", lambda f: ["predict", "--grpc", "127.0.0.1:9", str(f["bad_data"])],
     EXIT_FAILED, "bad_data"),
    ("predict not utf-8", lambda f: ["predict", "--server", "http://127.0.0.1:9",
                                     str(f["not_utf8"])], EXIT_FAILED, "latin1.csv"),
    ("monitor missing file", lambda f: ["monitor", str(f["tmp"] / "nope.csv"), "--metadata",
                                        str(f["good"]), "--state-dir", str(f["tmp"] / "m")],
     EXIT_INVALID, "nope.csv"),
    ("monitor not utf-8", lambda f: ["monitor", str(f["not_utf8"]), "--metadata",
                                     str(f["good"]), "--state-dir", str(f["tmp"] / "m")],
     EXIT_INVALID, "latin1.csv"),
    ("monitor no statistics", lambda f: ["monitor", str(SAMPLE_DATA / "data.csv"), "--metadata",
                                         str(f["good"]), "--state-dir", str(f["tmp"] / "m")],
     EXIT_INVALID, "StatisticsGen"),
    ("rollback corrupt models.config", lambda f: [
        "rollback", "--to", "1", "--metadata", str(f["good"]),
        "--output-dir", str(f["corrupt"])], EXIT_FAILED, "models.config"),
    ("serving-config output is a file", lambda f: [
        "serving-config", "--metadata", str(f["good"]),
        "--serving-dir", str(f["tmp"] / "good" / "serving_model"),
        "--output-dir", str(f["a_file"])], EXIT_FAILED, "a_file"),
]

# argparse's own errors: exit 2 naming the flag.
BAD_FLAGS: list[list[str]] = [
    ["serving-config", "--keep", "0"],
    ["serving-config", "--canary", "-1"],
    ["compile-kfp", "--beam-mode", "turbo"],
    ["serving-config", "--model-name"],
    ["rollback", "--to", "0"],
    ["rollback", "--to", "x"],
    ["check-data", "--max-row-bytes", "-5"],
    ["predict", "--server", "http://x", "--timeout", "-1", "f.csv"],
    ["predict", "--server", "http://x", "--timeout", "nan", "f.csv"],
    ["predict", "--server", "http://x", "--version", "0", "f.csv"],
    ["predict", "--server", "http://x", "--signature", "bogus", "f.csv"],
    ["runs", "--metadata"],
    ["diff", "run-1"],
]


def run_cli(capsys: pytest.CaptureFixture, argv: list[str]) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of `python -m pipeline ARGV`, run in-process."""
    try:
        code = main(argv)
    except SystemExit as exit_info:
        code = exit_info.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_error_line(code: int, out: str, err: str) -> str:
    """Non-zero exit, exactly one `error:` line on stderr, no traceback; that line."""
    assert code != 0
    assert "Traceback" not in out + err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, err
    return errors[0]


@pytest.mark.parametrize("store", BAD_STORES)
@pytest.mark.parametrize("command", list(STORE_COMMANDS))
def test_a_bad_metadata_store_is_one_error_line_naming_it(
    files: dict[str, Path], capsys, command: str, store: str
) -> None:
    path = files[store]
    code, out, err = run_cli(capsys, STORE_COMMANDS[command](files, path))
    line = assert_one_error_line(code, out, err)
    if command != "rollback":  # rollback names the models.config it could not use first
        assert str(path) in line
    assert code == (EXIT_INVALID if command == "monitor" else EXIT_FAILED)
    assert err.strip() == line


@pytest.mark.parametrize(("argv", "code", "named"),
                         [pytest.param(a, c, n, id=i) for i, a, c, n in BAD_INPUT])
def test_bad_input_is_one_error_line_naming_the_file(
    files: dict[str, Path], capsys, argv, code: int, named: str
) -> None:
    exit_code, out, err = run_cli(capsys, argv(files))
    line = assert_one_error_line(exit_code, out, err)
    assert named in err, err
    assert exit_code == code, line


@pytest.mark.parametrize("argv", BAD_FLAGS, ids=" ".join)
def test_a_bad_flag_value_exits_2_naming_the_flag(capsys, argv: list[str]) -> None:
    code, out, err = run_cli(capsys, argv)
    assert code == EXIT_INVALID
    assert "Traceback" not in out + err
    flag = next((a for a in reversed(argv) if a.startswith("--")), "arguments")
    assert f"error: argument {flag}" in err or "the following arguments are required" in err


def test_an_unexpected_os_error_keeps_its_traceback_in_a_private_log(
    files: dict[str, Path], capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline.metadata import connection

    def failing_disk(*_args: object, **_kwargs: object) -> None:
        raise OSError(5, "Input/output error", str(files["random"]))

    monkeypatch.setattr(connection, "open_metadata", failing_disk)
    code, out, err = run_cli(capsys, STORE_COMMANDS["versions"](files, files["random"]))
    line = assert_one_error_line(code, out, err)
    logged = line.rsplit("traceback in ", 1)[1].rstrip(")")
    log = Path(logged)
    assert log.parent == files["tmp"] / "logs"
    assert log.stat().st_mode & 0o777 == 0o600
    assert "Traceback" in log.read_text()
