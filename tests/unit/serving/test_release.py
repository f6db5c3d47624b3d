"""Two-phase label moves: the version is served first with labels unchanged, then the label moves;
a server that cannot confirm the version leaves the label where it was. Each written models.config
is parsed with TF Serving's own ModelServerConfig proto."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from pipeline.__main__ import main
from pipeline.serving import release, server_config
from pipeline.serving.server_config import MODELS_CONFIG, ServingPlan

BASE = "/models/taxi"


def served(output_dir: Path) -> tuple[tuple[int, ...], dict[str, int]]:
    """Versions and labels of the one model in models.config, read with TF Serving's proto."""
    config = text_format.Parse((output_dir / MODELS_CONFIG).read_text(),
                               model_server_config_pb2.ModelServerConfig())
    (model,) = config.model_config_list.config
    return tuple(model.model_version_policy.specific.versions), dict(model.version_labels)


def moved_with_snapshots(
    current: ServingPlan | None, target: ServingPlan, output_dir: Path, **kwargs: object
) -> tuple[release.LabelMove, list[tuple[str, tuple]]]:
    """move_labels, with models.config as it was on disk when each console line was said."""
    seen: list[tuple[str, tuple]] = []
    move = release.move_labels(current, target, output_dir,
                               say=lambda line: seen.append((line, served(output_dir))),
                               **kwargs)  # type: ignore[arg-type]
    return move, seen


def test_rollback_serves_the_version_before_moving_the_label(tmp_path: Path) -> None:
    current = ServingPlan("taxi", BASE, (3, 4), {"stable": 4})
    target = server_config.rollback_plan(current, 1, [1, 2, 3, 4])
    move, seen = moved_with_snapshots(current, target, tmp_path)
    (phase1, state1), (warning, _), (phase2, state2) = seen
    assert phase1.startswith("phase 1") and state1 == ((1, 3, 4), {"stable": 4})
    assert release.UNLABELLED_FLAG in warning
    assert phase2 == "phase 2: stable -> version 1" and state2 == ((1, 3, 4), {"stable": 1})
    assert served(tmp_path) == ((1, 3, 4), {"stable": 1})
    assert (move.moved, move.confirmed) == ({"stable": 1}, False)


def test_first_config_loads_versions_before_labelling_them(tmp_path: Path) -> None:
    target = server_config.plan_config("taxi", BASE, [1, 2], canary=1)
    _, seen = moved_with_snapshots(None, target, tmp_path)
    assert seen[0][1] == ((1, 2), {})
    assert served(tmp_path) == ((1, 2), {"canary": 1, "stable": 2})


def test_no_label_change_is_one_write_and_says_nothing(tmp_path: Path) -> None:
    current = ServingPlan("taxi", BASE, (1, 2), {"stable": 2})
    target = server_config.plan_config("taxi", BASE, [1, 2, 3], stable=2)
    move, seen = moved_with_snapshots(current, target, tmp_path)
    assert (seen, move.loading, move.moved) == ([], None, {})
    assert served(tmp_path) == ((1, 2, 3), {"stable": 2})


def test_status_request_names_the_model_and_version() -> None:
    from tensorflow_serving.apis import get_model_status_pb2

    request = release.status_request("taxi", 7)
    parsed = get_model_status_pb2.GetModelStatusRequest.FromString(request.SerializeToString())
    assert (parsed.model_spec.name, parsed.model_spec.version.value) == ("taxi", 7)
    assert not parsed.model_spec.version_label


def closed_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_rollback_against_an_unreachable_server_moves_nothing(
    other_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flags = ["--project", "other", "--metadata", str(other_project / "other.sqlite"),
             "--serving-dir", str(other_project / "serving_model")]
    output = other_project / "serving" / "other"
    assert main(["serving-config", *flags]) == 0
    assert served(output) == ((1, 2), {"stable": 2})
    capsys.readouterr()
    address = f"127.0.0.1:{closed_port()}"
    started = time.monotonic()
    code = main(["rollback", *flags, "--to", "1", "--server", address, "--timeout", "60"])
    elapsed = time.monotonic() - started
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and elapsed < 15, (code, elapsed)
    assert len(err) == 1 and err[0].startswith("error: TF Serving at " + address), err
    assert "labels not moved" in err[0]
    assert served(output) == ((1, 2), {"stable": 2})
    assert server_config.audit_records(output) == []


def test_rollback_without_a_server_says_how_the_server_must_run(
    other_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flags = ["--project", "other", "--metadata", str(other_project / "other.sqlite"),
             "--serving-dir", str(other_project / "serving_model")]
    assert main(["serving-config", *flags, "--keep", "1"]) == 0
    output = other_project / "serving" / "other"
    assert served(output) == ((2,), {"stable": 2})
    capsys.readouterr()
    assert main(["rollback", *flags, "--to", "1"]) == 0
    out = capsys.readouterr().out
    assert "phase 1: serving versions [1, 2], labels unchanged {'stable': 2}" in out
    assert release.UNLABELLED_FLAG in out and "phase 2: stable -> version 1" in out
    assert served(output) == ((1, 2), {"stable": 1})
    (record,) = server_config.audit_records(output)
    assert (record["from"], record["to"]) == (2, 1)
