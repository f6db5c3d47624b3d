"""Releases TF Serving accepts: every models.config a label move writes is parsed with TF Serving's
own ModelServerConfig proto and fed to a simulated server that applies server_core's label rule
(an assigned label moves only to an AVAILABLE version); a release that cannot be confirmed stops
after phase 1, pending, and records nothing until its labels move."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from pathlib import Path

import pytest
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from pipeline.__main__ import main
from pipeline.cli import serving as serving_cli
from pipeline.serving import release, server_config
from pipeline.serving.server_config import MODELS_CONFIG, ServingPlan

BASE = "/models/taxi"


def served(output_dir: Path) -> tuple[tuple[int, ...], dict[str, int]]:
    """Versions and labels of the one model in models.config, read with TF Serving's proto."""
    config = text_format.Parse((output_dir / MODELS_CONFIG).read_text(),
                               model_server_config_pb2.ModelServerConfig())
    (model,) = config.model_config_list.config
    return tuple(model.model_version_policy.specific.versions), dict(model.version_labels)


class FakeServer:
    """TF Serving polling models.config: each config it reads must pass server_core's label rule
    against the labels it serves and the versions AVAILABLE then; it loads a config's versions
    only after accepting it."""

    def __init__(self, output_dir: Path) -> None:
        self.output_dir = output_dir
        self.labels: dict[str, int] = {}
        self.available: set[int] = set()
        self.read: list[tuple[tuple[int, ...], dict[str, int]]] = []

    def check(self, versions: tuple[int, ...], labels: dict[str, int]) -> None:
        """Fail the test on a config the server would refuse (or that labels an unserved version)."""
        plan = ServingPlan("other", BASE, versions, labels)
        problems = release.label_rejections(self.labels, self.available, plan)
        assert not problems, (self.labels, sorted(self.available), versions, labels, problems)

    def poll(self) -> None:
        """Read the file as it is now, accept it, and load its versions."""
        versions, labels = served(self.output_dir)
        self.check(versions, labels)
        self.read.append((versions, labels))
        self.labels, self.available = labels, set(versions)


@pytest.fixture
def simulated(other_project: Path, monkeypatch: pytest.MonkeyPatch):
    """The 'other' project's flags, its config folder, a FakeServer that checks every write as
    it happens (a server may poll between any two writes), and the aliases the mirror was asked
    to move; `--server` waits become polls of the fake server."""
    output = other_project / "serving" / "other"
    server = FakeServer(output)
    write = server_config.write_config_files

    def checked_write(plan: ServingPlan, output_dir: Path, batching) -> list[Path]:
        written = write(plan, output_dir, batching)
        server.check(*served(output_dir))  # worst case: read now, before anything new loaded
        return written

    def wait(address: str, model_name: str, version: int, timeout: float) -> None:
        server.poll()
        assert version in server.available

    aliases: list[dict[str, int]] = []
    monkeypatch.setattr(release, "write_config_files", checked_write)
    monkeypatch.setattr(release, "wait_until_available", wait)
    monkeypatch.setattr(serving_cli, "aliases_after_rollback",
                        lambda config, labels: aliases.append(dict(labels)))
    flags = ["--project", "other", "--metadata", str(other_project / "other.sqlite"),
             "--serving-dir", str(other_project / "serving_model")]
    return flags, output, server, aliases


def test_label_rejections_is_server_cores_rule() -> None:
    plan = ServingPlan("m", BASE, (1, 2), {"stable": 2})
    assert release.label_rejections({}, set(), plan) == []  # a new label: the flag admits it
    assert release.label_rejections({"stable": 2}, set(), plan) == []  # unchanged
    assert release.label_rejections({"stable": 1}, {1, 2}, plan) == []  # moved to an AVAILABLE one
    (refused,) = release.label_rejections({"stable": 1}, {1}, plan)
    assert "'stable' moves from version 1 to version 2, which is not AVAILABLE" in refused
    (dangling,) = release.label_rejections({}, set(), ServingPlan("m", BASE, (1,), {"stable": 2}))
    assert "version 2, which the config does not serve" in dangling


def test_every_label_move_of_the_cli_is_accepted_by_tf_serving(simulated, capsys) -> None:
    flags, output, server, aliases = simulated
    newest = output.parent.parent / "serving_model" / "other" / "2"
    shutil.move(newest, newest.with_name("aside"))
    assert main(["serving-config", *flags]) == 0  # the first config: only version 1 exists
    server.poll()
    shutil.move(newest.with_name("aside"), newest)  # a new push: version 2

    capsys.readouterr()
    assert main(["serving-config", *flags]) == 0  # no server: phase 1 only, pending
    out = capsys.readouterr().out
    assert served(output) == ((1, 2), {"stable": 1}) and aliases == [{"stable": 1}]
    assert "pending: stable -> version 2" in out and "serving-config --complete" in out
    server.poll()
    assert main(["serving-config", *flags, "--complete"]) == 0
    assert served(output) == ((1, 2), {"stable": 2}) and aliases[-1] == {"stable": 2}
    server.poll()

    assert main(["rollback", *flags, "--to", "1"]) == 0  # 1 is loaded: one write
    server.poll()
    assert main(["serving-config", *flags, "--release", "--keep", "1"]) == 0  # retires 1
    assert served(output) == ((2,), {"stable": 2})
    server.poll()
    assert main(["rollback", *flags, "--to", "1", "--server", "fake:8500"]) == 0
    assert served(output) == ((1, 2), {"stable": 1})
    server.poll()
    assert main(["serving-config", *flags, "--canary", "2"]) == 0  # pinned; a new label
    server.poll()
    assert server.labels == {"stable": 1, "canary": 2}
    assert [(r["action"], r["from"], r["to"], r["confirmed"])
            for r in server_config.audit_records(output)] == [
        ("rollback", 2, 1, False), ("release", 1, 2, False), ("rollback", 2, 1, True)]
    assert not (output / server_config.PENDING_FILE).exists()


def test_rollback_to_an_unloaded_version_without_a_server_is_pending(simulated, capsys) -> None:
    flags, output, server, aliases = simulated
    assert main(["serving-config", *flags, "--keep", "1"]) == 0
    server.poll()
    assert main(["rollback", *flags, "--to", "1", "--reason", "drill"]) == 0
    out = capsys.readouterr().out
    assert "phase 1: serving versions [1, 2], labels unchanged {'stable': 2}" in out
    assert "stable: version" not in out and "pending: stable -> version 1" in out
    assert served(output) == ((1, 2), {"stable": 2})
    assert server_config.audit_records(output) == [] and aliases == [{"stable": 2}]
    server.poll()
    assert main(["serving-config", *flags, "--complete", "--server", "fake:8500"]) == 0
    assert served(output) == ((1, 2), {"stable": 1}) and aliases[-1] == {"stable": 1}
    (record,) = server_config.audit_records(output)
    assert (record["action"], record["from"], record["to"], record["reason"]) == (
        "rollback", 2, 1, "drill")
    assert main(["serving-config", *flags, "--complete"]) == 1
    assert "no release of model 'other' is pending" in capsys.readouterr().err


def test_complete_refuses_a_config_changed_since_phase_one(simulated, capsys) -> None:
    flags, output, server, _ = simulated
    assert main(["serving-config", *flags, "--keep", "1"]) == 0
    assert main(["rollback", *flags, "--to", "1"]) == 0
    text = (output / MODELS_CONFIG).read_text().replace("versions: 1\n", "")
    (output / MODELS_CONFIG).write_text(text)
    capsys.readouterr()
    assert main(["serving-config", *flags, "--complete"]) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: ") and "changed since phase 1" in line
    assert served(output) == ((2,), {"stable": 2})


def test_first_config_labels_at_once(tmp_path: Path) -> None:
    target = server_config.plan_config("taxi", BASE, [1, 2], canary=1)
    seen: list[str] = []
    move = release.move_labels(None, target, tmp_path, say=seen.append)
    assert served(tmp_path) == ((1, 2), {"canary": 1, "stable": 2})
    assert (move.pending, move.loading) == ((), None)


def test_no_label_change_is_one_write(tmp_path: Path) -> None:
    current = ServingPlan("taxi", BASE, (1, 2), {"stable": 2})
    target = server_config.plan_config("taxi", BASE, [1, 2, 3], stable=2)
    seen: list[str] = []
    move = release.move_labels(current, target, tmp_path, say=seen.append)
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
    assert main(["serving-config", *flags, "--keep", "1"]) == 0
    assert served(output) == ((2,), {"stable": 2})
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


def test_a_torn_audit_line_is_one_error_naming_file_and_line(
    other_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flags = ["--project", "other", "--metadata", str(other_project / "other.sqlite"),
             "--serving-dir", str(other_project / "serving_model")]
    output = other_project / "serving" / "other"
    assert main(["serving-config", *flags]) == 0
    assert main(["rollback", *flags, "--to", "1"]) == 0
    audit = output / server_config.AUDIT_LOG
    audit.write_text(audit.read_text() + '{"action": "rollb')
    before = (output / MODELS_CONFIG).read_text()
    capsys.readouterr()
    assert main(["serving-config", *flags]) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"error: {audit}:2: not an audit record"), line
    assert (output / MODELS_CONFIG).read_text() == before


def test_concurrent_config_writes_never_share_a_temporary_file(tmp_path: Path) -> None:
    errors: list[BaseException] = []

    def write(text: str) -> None:
        try:
            for _ in range(300):
                server_config.write_atomic(tmp_path / MODELS_CONFIG, text)
        except OSError as error:
            errors.append(error)

    threads = [threading.Thread(target=write, args=(f"writer {n}\n",)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert (tmp_path / MODELS_CONFIG).read_text() in {"writer 0\n", "writer 1\n"}
    assert [p.name for p in tmp_path.iterdir()] == [MODELS_CONFIG]


def test_a_second_call_waits_for_the_first_on_one_config_folder(other_project: Path) -> None:
    flags = ["--project", "other", "--metadata", str(other_project / "other.sqlite"),
             "--serving-dir", str(other_project / "serving_model")]
    output = other_project / "serving" / "other"
    assert main(["serving-config", *flags]) == 0
    codes: list[int] = []
    with server_config.config_lock(output):  # another serving-config or rollback is writing
        second = threading.Thread(target=lambda: codes.append(
            main(["rollback", *flags, "--to", "1"])))
        second.start()
        second.join(timeout=2)
        assert second.is_alive() and served(output) == ((1, 2), {"stable": 2})
    second.join(timeout=60)
    assert codes == [0] and served(output) == ((1, 2), {"stable": 1})
