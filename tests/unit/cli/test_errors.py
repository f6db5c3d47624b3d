"""Bad input on every light command: a non-zero exit, one `error:` line, never a traceback.

Classes of bad input: a missing, empty, random-bytes or folder metadata store; a wrong path; a
file that is not UTF-8; a bad flag value. Commands run in-process through pipeline.__main__.main.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline.__main__ import main
from pipeline.config import PROJECT_ROOT
from pipeline.errors import EXIT_FAILED, EXIT_INVALID
from tests.support.configs import SAMPLE_DATA
from tests.support.mlmd_fake import evaluated_and_pushed_runs

SCHEMA = PROJECT_ROOT / "models" / "taxi" / "schema.pbtxt"
MODELS_CONFIG = ('model_config_list { config { name: "taxi" base_path: "/x/taxi" '
                 'model_platform: "tensorflow" } }\n')
NOT_UTF8 = b"\xff\xfe\x00garbage\x80\n"


@pytest.fixture(scope="module")
def good_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with two pushed runs, built once: every command only reads it."""
    good = tmp_path_factory.mktemp("good") / "metadata.sqlite"
    evaluated_and_pushed_runs(good, good.parent)
    return good


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, good_store: Path) -> dict[str, Path]:
    """Bad stores and files, a good store, and the log dir for tracebacks under tmp_path."""
    monkeypatch.setenv("PIPELINE_LOG_DIR", str(tmp_path / "logs"))
    random = tmp_path / "random.sqlite"
    random.write_bytes(os.urandom(4096))
    empty = tmp_path / "empty.sqlite"
    empty.write_bytes(b"")
    folder = tmp_path / "folder.sqlite"
    folder.mkdir()
    good = good_store
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
    fifo = tmp_path / "fifo.csv"
    os.mkfifo(fifo)
    fifo_data = tmp_path / "fifo_data"
    fifo_data.mkdir()
    os.mkfifo(fifo_data / "data.csv")
    return {"fifo": fifo, "fifo_data": fifo_data, "random": random, "empty": empty,
            "missing": tmp_path / "missing.sqlite",
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
        "--serving-dir", str(f["good"].parent / "serving_model"),
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


def _run(f: dict[str, Path], *flags: str) -> list[str]:
    """`run` with every output under the fixture's folder."""
    t = f["tmp"]
    return ["run", "--pipeline-root", str(t / "root"), "--metadata", str(t / "run.sqlite"),
            "--serving-dir", str(t / "serving"), "--log-dir", str(t / "logs"), *flags]


def _store(command: str, *flags: str) -> Callable[[dict[str, Path]], list[str]]:
    """A store command whose store (or a flag) is bad; outputs under the fixture's folder."""
    extra = {"serving-config": ["--output-dir", "{tmp}/out"],
             "rollback": ["--to", "1", "--output-dir", "{tmp}/out"],
             "reproduce": ["latest"], "monitor": [str(SAMPLE_DATA / "data.csv"),
                                                  "--state-dir", "{tmp}/m"]}.get(command, [])
    return lambda f: [command, *(a.format(**f) for a in (*extra, *flags))]


def _init(f: dict[str, Path], data: Path | str, *flags: str) -> list[str]:
    return ["init", "zz_probe", "--data", str(data), "--label", "tips",
            "--models-dir", str(f["tmp"] / "models"), *flags]


def _monitor(f: dict[str, Path], file: Path | str, *flags: str) -> list[str]:
    return ["monitor", str(file), "--metadata", str(f["good"]), "--state-dir",
            str(f["tmp"] / "m"), *flags]


def _predict(file: Path | str, *flags: str) -> list[str]:
    return ["predict", "--server", "http://127.0.0.1:9", str(file), *flags]


def _ingest(f: dict[str, Path], file: Path | str, *flags: str) -> list[str]:
    return ["ingest", str(file), "--data", str(f["tmp"] / "spans"), *flags]


A = Callable[[dict[str, Path]], list[str]]
SAMPLE = SAMPLE_DATA / "data.csv"

# Every command x every class of user-level problem: (argv, exit code, text stderr names).
# Classes: a file not in UTF-8, a special file (FIFO: must not hang), a negative or zero number,
# a URL of the wrong scheme, a missing file.
COMMAND_CLASSES: dict[tuple[str, str], tuple[A, int, str]] = {
    ("run", "encoding"): (lambda f: _run(f, "--data", str(f["bad_data"])), 1, "not valid UTF-8"),
    ("run", "special file"): (lambda f: _run(f, "--data", str(f["fifo_data"])), 1, "is a FIFO"),
    ("run", "number"): (lambda f: _run(f, "--seed", "-1"), 2, "seed"),
    ("run", "url"): (lambda f: _run(f, "--pipeline-root", "ftp://host/root"), 2, "ftp://"),
    ("run", "missing"): (lambda f: _run(f, "--schema", str(f["tmp"] / "no.pbtxt")), 2, "no.pbtxt"),
    ("ingest", "encoding"): (lambda f: _ingest(f, f["not_utf8"]), 1, "latin1.csv"),
    ("ingest", "special file"): (lambda f: _ingest(f, f["fifo"]), 1, "fifo.csv"),
    ("ingest", "number"): (lambda f: _ingest(f, SAMPLE, "--project", "-1"), 2, "project"),
    ("ingest", "url"): (lambda f: _ingest(f, "http://host/a.csv"), 2, "http://host/a.csv"),
    ("ingest", "missing"): (lambda f: _ingest(f, f["tmp"] / "no.csv"), 1, "no.csv"),
    ("check-data", "encoding"): (lambda f: ["check-data", "--data", str(f["bad_data"])], 1,
                                 "not valid UTF-8"),
    ("check-data", "special file"): (lambda f: ["check-data", "--data", str(f["fifo_data"])], 1,
                                     "is a FIFO"),
    ("check-data", "number"): (lambda f: ["check-data", "--workers", "-1"], 2, "workers"),
    ("check-data", "url"): (lambda f: ["check-data", "--data", "http://host/d"], 2, "http://"),
    ("check-data", "missing"): (lambda f: ["check-data", "--data", str(f["tmp"] / "no")], 2,
                                "data_dir"),
    ("predict", "encoding"): (lambda f: _predict(f["not_utf8"]), 1, "latin1.csv"),
    ("predict", "special file"): (lambda f: _predict(f["fifo"]), 1, "fifo.csv"),
    ("predict", "number"): (lambda f: _predict(SAMPLE, "--timeout", "0"), 2, "--timeout"),
    ("predict", "url"): (lambda f: ["predict", "--server", "ftp://127.0.0.1:9", str(SAMPLE)], 2,
                         "ftp://"),
    ("predict", "missing"): (lambda f: _predict(f["tmp"] / "no.csv"), 1, "no.csv"),
    ("versions", "encoding"): (_store("versions", "--metadata", "{not_utf8}"), 1, "latin1.csv"),
    ("versions", "special file"): (_store("versions", "--metadata", "{fifo}"), 1, "fifo.csv"),
    ("versions", "number"): (_store("versions", "--metadata-port", "-1"), 2, "metadata_port"),
    ("versions", "url"): (_store("versions", "--metadata", "mysql://h/db"), 2, "mysql://h/db"),
    ("versions", "missing"): (_store("versions", "--metadata", "{tmp}/no.sqlite"), 1, "no.sqlite"),
    ("serving-config", "encoding"): (_store("serving-config", "--metadata", "{not_utf8}"), 1,
                                     "latin1.csv"),
    ("serving-config", "special file"): (_store("serving-config", "--metadata", "{fifo}"), 1,
                                         "fifo.csv"),
    ("serving-config", "number"): (_store("serving-config", "--keep", "-2"), 2, "--keep"),
    ("serving-config", "url"): (_store("serving-config", "--serving-dir", "s3://b/s"), 2,
                                "s3://b/s"),
    ("serving-config", "missing"): (_store("serving-config", "--metadata", "{tmp}/no.sqlite"), 1,
                                    "no.sqlite"),
    ("rollback", "encoding"): (lambda f: ["rollback", "--to", "1", "--metadata", str(f["good"]),
                                          "--output-dir", str(f["corrupt"])], 1, "models.config"),
    ("rollback", "special file"): (_store("rollback", "--metadata", "{fifo}", "--output-dir",
                                          "{outputs}"), 1, "fifo.csv"),
    ("rollback", "number"): (lambda f: ["rollback", "--to", "-1"], 2, "--to"),
    ("rollback", "url"): (lambda f: ["rollback", "--to", "1", "--output-dir", "gs://b/o"], 2,
                          "gs://b/o"),
    ("rollback", "missing"): (_store("rollback", "--metadata", "{tmp}/no.sqlite", "--output-dir",
                                     "{outputs}"), 1, "no.sqlite"),
    ("monitor", "encoding"): (lambda f: _monitor(f, f["not_utf8"]), 2, "latin1.csv"),
    ("monitor", "special file"): (lambda f: _monitor(f, f["fifo"]), 2, "fifo.csv"),
    ("monitor", "number"): (lambda f: _monitor(f, SAMPLE, "--metadata-port", "0x"), 2,
                            "--metadata-port"),
    ("monitor", "url"): (lambda f: _monitor(f, "https://host/requests.csv"), 2, "https://"),
    ("monitor", "missing"): (lambda f: _monitor(f, SAMPLE, "--previous", str(f["tmp"] / "no.pb")),
                             2, "no.pb"),
    ("reproduce", "encoding"): (_store("reproduce", "--metadata", "{not_utf8}"), 1, "latin1.csv"),
    ("reproduce", "special file"): (_store("reproduce", "--metadata", "{fifo}"), 1, "fifo.csv"),
    ("reproduce", "number"): (_store("reproduce", "--metadata-port", "70000"), 2, "metadata_port"),
    ("reproduce", "url"): (_store("reproduce", "--scratch", "ftp://h/s"), 2, "ftp://h/s"),
    ("reproduce", "missing"): (_store("reproduce", "--metadata", "{tmp}/no.sqlite"), 1,
                               "no.sqlite"),
    ("lineage", "encoding"): (_store("lineage", "--metadata", "{not_utf8}"), 1, "latin1.csv"),
    ("lineage", "special file"): (_store("lineage", "--metadata", "{fifo}"), 1, "fifo.csv"),
    ("lineage", "number"): (lambda f: ["lineage", "--version", "0", "--metadata", str(f["good"])],
                            2, "--version"),
    ("lineage", "url"): (_store("lineage", "--metadata", "http://h/m.sqlite"), 2, "http://"),
    ("lineage", "missing"): (_store("lineage", "--metadata", "{tmp}/no.sqlite"), 1, "no.sqlite"),
    ("init", "encoding"): (lambda f: _init(f, f["not_utf8"]), 2, "latin1.csv"),
    ("init", "special file"): (lambda f: _init(f, f["fifo"]), 2, "fifo.csv: is a FIFO"),
    ("init", "number"): (lambda f: ["init", "0", "--data", str(SAMPLE), "--label", "tips"], 2,
                         "'0'"),
    ("init", "url"): (lambda f: _init(f, "gs://bucket/data.csv"), 2, "gs://bucket/data.csv"),
    ("init", "missing"): (lambda f: _init(f, f["tmp"] / "no.csv"), 2, "no.csv"),
}


def _error_lines(err: str) -> list[str]:
    """`error:` lines, ours or argparse's (`python -m pipeline CMD: error: ...`)."""
    return [line for line in err.splitlines()
            if re.match(r"^(python -m pipeline [\w-]+: )?error: ", line)]


@pytest.mark.timeout(60)  # a FIFO opened by mistake would block forever
@pytest.mark.parametrize("case", list(COMMAND_CLASSES), ids=" / ".join)
def test_every_command_and_class_of_bad_input_is_one_error_line(
    files: dict[str, Path], capsys, case: tuple[str, str]
) -> None:
    argv, expected_code, named = COMMAND_CLASSES[case]
    loaded_before = "tensorflow" in sys.modules  # an earlier test of this process may have
    code, out, err = run_cli(capsys, argv(files))
    assert "Traceback" not in out + err
    assert len(_error_lines(err)) == 1, err
    assert named in err, err
    assert code == expected_code, err
    assert loaded_before or "tensorflow" not in sys.modules or case[0] == "predict"


def test_the_table_covers_every_command_and_class() -> None:
    commands = {"run", "ingest", "check-data", "predict", "versions", "serving-config",
                "rollback", "monitor", "reproduce", "lineage", "init"}
    classes = {"encoding", "special file", "number", "url", "missing"}
    assert set(COMMAND_CLASSES) == {(c, k) for c in commands for k in classes}
