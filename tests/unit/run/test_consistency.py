"""A metadata store that no longer matches the files: found before anything runs, never an
overwritten artifact nor a model blessed without its baseline; a corrupt store is one error line."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from pipeline.__main__ import main
from pipeline.config import PipelineConfig
from pipeline.metadata.connection import LineageError
from pipeline.run import consistency
from pipeline.vocabulary import STORE_OWNER_FILE
from tests.support.configs import small_config
from tests.support.faults import cli_run
from tests.support.mlmd_fake import FakePipeline


def _record_run(config: PipelineConfig, run_id: str, push: int | None) -> list[int]:
    """One run in the config's store, its output folders on disk and its push served; returns
    the execution ids."""
    fake = FakePipeline(config.metadata_path, config.pipeline_name)
    ids = []
    for node, key in (("CsvExampleGen", "examples"), ("Trainer", "model"),
                      ("ServingPusher", "pushed_model")):
        served = config.serving_dir / config.model_name / str(push)
        properties = {"pushed": 1, "pushed_version": push, "pushed_destination": served} \
            if key == "pushed_model" and push else {}
        artifact = fake.artifact("PushedModel" if key == "pushed_model" else "Model", "", **properties)
        blessing = {"blessing": fake.artifact("ModelBlessing", "", blessed=1)} if push else {}
        outputs = fake.execute(run_id, node, outputs={key: artifact},
                               inputs=blessing if key == "pushed_model" else None)
        execution_id = max(e.id for e in fake.store.get_executions())
        folder = Path(config.pipeline_root) / node / key / str(execution_id)
        folder.mkdir(parents=True)
        (folder / "data").write_text(f"{run_id} {node}")
        ids.append(execution_id)
        assert outputs
    if push:
        version = config.serving_dir / config.model_name / str(push)
        version.mkdir(parents=True)
        (version / "saved_model.pb").write_text(f"model of {run_id}")
    return ids


def _digest(root: Path) -> str:
    """Hash of every file's path and bytes under root (but run locks and owner files): proof
    nothing was touched."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix != ".lock"
                       and p.name != STORE_OWNER_FILE):
        digest.update(str(path.relative_to(root)).encode() + path.read_bytes())
    return digest.hexdigest()


@pytest.fixture
def recorded(tmp_path: Path) -> PipelineConfig:
    """Two runs recorded in the store, their artifacts on disk, version 1 served."""
    config = small_config(tmp_path)
    _record_run(config, "run-1", push=1)
    _record_run(config, "run-2", push=None)
    return config


def test_a_store_that_matches_passes(recorded: PipelineConfig) -> None:
    assert consistency.check(recorded) == recorded


def test_an_interrupted_execution_is_not_a_mismatch(recorded: PipelineConfig) -> None:
    fake = FakePipeline(recorded.metadata_path, recorded.pipeline_name)
    fake.execute("run-3", "Trainer", state="RUNNING")  # killed: registered, outputs never recorded
    newest = max(e.id for e in fake.store.get_executions())
    (Path(recorded.pipeline_root) / "Trainer" / "model" / str(newest)).mkdir(parents=True)
    assert consistency.check(recorded) == recorded


def _delete(config: PipelineConfig) -> None:
    config.metadata_path.unlink()


def _empty(config: PipelineConfig) -> None:
    config.metadata_path.write_bytes(b"")


def _replace(config: PipelineConfig) -> None:
    config.metadata_path.unlink()
    FakePipeline(config.metadata_path, "other").execute("x", "Trainer")


def _old_backup(config: PipelineConfig) -> None:
    """The store as it was before run-2 (a backup restored), run-2's folders still on disk."""
    backup = config.metadata_path.with_suffix(".backup")
    shutil.copy(config.metadata_path, backup)
    _record_run(config, "run-3", push=None)
    shutil.copy(backup, config.metadata_path)


STORE_LOSSES = {"deleted": (_delete, "is missing"), "emptied": (_empty, "is empty"),
                "replaced": (_replace, "records 1 execution(s)"),
                "restored from an older backup": (_old_backup, "records 6 execution(s)")}


@pytest.mark.parametrize("loss", STORE_LOSSES)
def test_a_store_that_lost_executions_is_refused(tmp_path: Path, loss: str) -> None:
    config = small_config(tmp_path)
    _record_run(config, "run-1", push=None)
    _record_run(config, "run-2", push=None)
    damage, state = STORE_LOSSES[loss]
    damage(config)
    before = _digest(tmp_path / "pipeline_root")
    with pytest.raises(consistency.StoreMismatch) as refused:
        consistency.check(config)
    message = str(refused.value)
    assert f"{config.metadata_path} {state}" in message and str(config.pipeline_root) in message
    assert "another store wrote them" in message and "new --pipeline-root" in message
    assert "backup" not in message.split(":")[0]
    assert "--start-over" in message and _digest(tmp_path / "pipeline_root") == before


@pytest.mark.parametrize("loss", ["deleted", "emptied", "replaced"])
def test_lost_baseline_with_versions_served_is_refused_even_to_start_over(
    recorded: PipelineConfig, loss: str
) -> None:
    STORE_LOSSES[loss][0](recorded)
    with pytest.raises(consistency.StoreMismatch, match="serves version.s. 1 that the metadata"):
        consistency.check(recorded, start_over=True)


def test_a_served_version_newer_than_the_recorded_pushes_is_refused(
    recorded: PipelineConfig,
) -> None:
    newer = recorded.serving_dir / recorded.model_name / "2"
    newer.mkdir()
    (newer / "saved_model.pb").write_text("pushed by a run the store forgot")
    with pytest.raises(consistency.StoreMismatch, match=r"serves version\(s\) 2 that"):
        consistency.check(recorded)


def test_start_over_writes_beside_every_earlier_artifact(tmp_path: Path, capsys) -> None:
    config = small_config(tmp_path)
    _record_run(config, "run-1", push=None)
    config.metadata_path.unlink()
    before = _digest(tmp_path / "pipeline_root")
    fresh = consistency.check(config, start_over=True)
    root = Path(config.pipeline_root)
    assert Path(fresh.pipeline_root).parent == root
    assert Path(fresh.pipeline_root).name.startswith(consistency.START_OVER_PREFIX)
    assert [p.name for p in Path(fresh.pipeline_root).iterdir()] == [STORE_OWNER_FILE]
    assert _digest(root) == before
    assert f"pass --pipeline-root {fresh.pipeline_root}" in capsys.readouterr().out
    assert consistency.check(fresh) == fresh, "the new root's folders are the new store's"


def test_a_corrupt_store_is_named(recorded: PipelineConfig) -> None:
    recorded.metadata_path.write_bytes(b"\x00garbage" * 512)
    with pytest.raises(LineageError, match=f"{recorded.metadata_path} is not a readable"):
        consistency.check(recorded)


def test_the_cli_refuses_before_any_component(recorded: PipelineConfig) -> None:
    recorded.metadata_path.unlink()
    before = _digest(Path(recorded.pipeline_root).parent)
    result = cli_run(recorded)
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {recorded.serving_dir / 'taxi'} serves version(s) 1")
    assert "Traceback" not in result.stderr and "[ 1/" not in result.stdout
    assert not recorded.metadata_path.exists() and not recorded.log_dir.exists()
    after = _digest(Path(recorded.pipeline_root).parent)
    assert after == before, "nothing written (but the run lock)"


# Every command that reads the store, with what it needs to get as far as opening it.
READERS = {
    "runs": ["runs"], "lineage": ["lineage"], "versions": ["versions"],
    "diff": ["diff", "latest", "latest"], "serving-config": ["serving-config"],
    "rollback": ["rollback", "--to", "1"], "reproduce": ["reproduce", "latest"],
    "monitor": ["monitor", "requests.csv"],
}


@pytest.mark.parametrize("command", READERS)
@pytest.mark.parametrize("damage", ["corrupt", "empty"])
def test_every_command_names_a_damaged_store_in_one_error_line(
    tmp_path: Path, command: str, damage: str, monkeypatch, capsys
) -> None:
    store = tmp_path / "metadata.sqlite"
    store.write_bytes(b"\x00garbage" * 512 if damage == "corrupt" else b"")
    monkeypatch.setenv("PIPELINE_METADATA_PATH", str(store))
    monkeypatch.setenv("PIPELINE_LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "requests.csv").write_text("a\n1\n")
    code = main([*READERS[command], *(["--serving-dir", str(tmp_path / "serving")]
                                      if command in ("serving-config", "rollback") else [])])
    err = capsys.readouterr().err
    assert code in (1, 2), err
    [line] = err.strip().splitlines()
    assert line.startswith("error: ") and "Traceback" not in err
    # rollback stops earlier, at the serving config it changes (there is none here). The store is
    # named as the console shows paths: relative to the working directory.
    assert f" {store.name} " in line or command == "rollback", line


def test_versions_lists_every_version_on_disk(recorded: PipelineConfig, capsys) -> None:
    for lost in ("2", "3"):
        version = recorded.serving_dir / recorded.model_name / lost
        version.mkdir()
        (version / "saved_model.pb").write_text("pushed by a run the store forgot")
    code = main(["versions", "--metadata", str(recorded.metadata_path),
                 "--serving-dir", str(recorded.serving_dir)])
    out = capsys.readouterr().out
    assert code == 0
    assert "version 1  run run-1" in out
    assert "version 2  not in metadata" in out and "version 3  not in metadata" in out


def test_serving_config_and_rollback_know_versions_the_store_lost(
    recorded: PipelineConfig, tmp_path: Path, capsys
) -> None:
    lost = recorded.serving_dir / recorded.model_name / "2"
    lost.mkdir()
    (lost / "saved_model.pb").write_text("pushed by a run the store forgot")
    flags = ["--metadata", str(recorded.metadata_path), "--serving-dir", str(recorded.serving_dir),
             "--output-dir", str(tmp_path / "configs")]
    assert main(["serving-config", *flags]) == 0
    out = capsys.readouterr().out
    assert "not in metadata: version(s) 2 found on disk only" in out
    assert "versions [1, 2]" in out
    assert main(["rollback", *flags, "--to", "1", "--reason", "drill"]) == 0
    assert main(["rollback", *flags, "--to", "2", "--reason", "back"]) == 0
    assert "stable: version 1 -> 2" in capsys.readouterr().out
