"""One store per pipeline root and serving folder: the first store to run claims them, every other
store is refused before it writes, by the local runner and by the DAG's first task alike, with one
line naming both stores."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from pipeline.config import PipelineConfig
from pipeline.metadata import connection
from pipeline.run import consistency, store_owner
from pipeline.run.airflow_store_check import check_store
from pipeline.serving import layout
from pipeline.vocabulary import STORE_OWNER_FILE
from tests.support.configs import small_config
from tests.support.faults import cli_run


def _stores(tmp_path: Path) -> tuple[PipelineConfig, PipelineConfig]:
    """Two configs sharing the pipeline root and serving folder, each with its own store (as a
    local run on SQLite and Airflow on its PostgreSQL had)."""
    local = small_config(tmp_path)
    other = local.replace(metadata_path=tmp_path / "airflow" / "mlmd.sqlite")
    return local, other


def _files(config: PipelineConfig) -> list[Path]:
    """Every owner file the config's folders hold."""
    base = layout.model_base_path(config.serving_dir, config.model_name)
    return [f / STORE_OWNER_FILE for f in (Path(config.pipeline_root), base)
            if (f / STORE_OWNER_FILE).is_file()]


def test_the_first_run_claims_root_and_serving_folder_with_the_store_identity(
    tmp_path: Path,
) -> None:
    config, _ = _stores(tmp_path)
    assert consistency.check(config) == config
    identity = store_owner.recorded_identity(connection.open_metadata(config))
    assert identity and len(identity) == 32
    owners = [json.loads(path.read_text()) for path in _files(config)]
    assert owners == [{"store_id": identity, "location": str(config.metadata_path)}] * 2
    assert consistency.check(config) == config, "its own folders pass again"


CHECKS = {"local run": consistency.check, "DAG's store_check task": check_store}


@pytest.mark.parametrize("first", CHECKS)
@pytest.mark.parametrize("second", CHECKS)
def test_a_second_store_is_refused_naming_both(tmp_path: Path, first: str, second: str) -> None:
    owner, intruder = _stores(tmp_path)
    CHECKS[first](owner)
    owned = {path: path.read_bytes() for path in _files(owner)}
    with pytest.raises(store_owner.ForeignStore) as refused:
        CHECKS[second](intruder)
    [line] = str(refused.value).splitlines()
    owner_id = store_owner.recorded_identity(connection.open_metadata(owner)) or ""
    assert line.startswith(f"{owner.pipeline_root} belongs to ML Metadata store {owner_id[:8]} "
                           f"({owner.metadata_path}), not to this run's store at "
                           f"{intruder.metadata_path}")
    assert "own --pipeline-root and --serving-dir" in line and "backup" not in line
    assert {path: path.read_bytes() for path in _files(owner)} == owned
    assert not intruder.metadata_path.exists(), "the refused store was not even created"


def test_separate_folders_for_each_store_both_run(tmp_path: Path) -> None:
    local, airflow = _stores(tmp_path)
    airflow = airflow.replace(pipeline_root=tmp_path / "airflow" / "pipelines",
                              serving_dir=tmp_path / "airflow" / "serving_model")
    assert consistency.check(local) == local and check_store(airflow) is None
    ids = {json.loads(p.read_text())["store_id"] for p in _files(local) + _files(airflow)}
    assert len(ids) == 2


def test_a_serving_folder_of_another_store_is_refused(tmp_path: Path) -> None:
    owner, intruder = _stores(tmp_path)
    consistency.check(owner)
    intruder = intruder.replace(pipeline_root=tmp_path / "own_root")
    with pytest.raises(store_owner.ForeignStore, match=r"serving_model/taxi belongs to ML Metadata"):
        consistency.check(intruder)
    assert not (tmp_path / "own_root").exists()


def test_a_recreated_store_is_named_as_such_and_may_start_over(tmp_path: Path) -> None:
    config, _ = _stores(tmp_path)
    consistency.check(config)
    config.metadata_path.unlink()
    store_owner.claimed_identity(config)  # a new, empty store at the same place
    with pytest.raises(store_owner.ForeignStore, match="was replaced or recreated since"):
        consistency.check(config)
    config.metadata_path.unlink()
    with pytest.raises(store_owner.ForeignStore, match="serving_model/taxi belongs to"):
        consistency.check(config, start_over=True)  # a served folder never starts over


def test_start_over_leaves_a_recreated_store_s_root_behind(tmp_path: Path) -> None:
    config = small_config(tmp_path, serving_dir=tmp_path / "never_served")
    consistency.check(config)
    config.metadata_path.unlink()
    config = config.replace(serving_dir=tmp_path / "new_serving")
    fresh = consistency.check(config, start_over=True)
    assert Path(fresh.pipeline_root).parent == Path(config.pipeline_root)
    assert store_owner.owner_of(Path(fresh.pipeline_root)) == store_owner.current_identity(fresh)


def test_a_damaged_owner_file_is_named(tmp_path: Path) -> None:
    config, _ = _stores(tmp_path)
    consistency.check(config)
    (Path(config.pipeline_root) / STORE_OWNER_FILE).write_text('{"store_id": ')
    with pytest.raises(store_owner.ForeignStore,
                       match=f"{STORE_OWNER_FILE} does not say which ML Metadata store owns"):
        consistency.check(config)


def test_racing_claims_of_one_store_agree_and_a_losing_store_is_refused(tmp_path: Path) -> None:
    config, other = _stores(tmp_path)
    store = connection.open_metadata(config, read_only=False)
    ids: list[str] = []
    threads = [threading.Thread(target=lambda: ids.append(store_owner.ensure_identity(
        connection.open_metadata(config, read_only=False)))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(ids)) == 1 and store_owner.recorded_identity(store) == ids[0]
    folder = tmp_path / "contested"
    store_owner.claim(folder, store_owner.claimed_identity(config))
    store_owner.claim(folder, store_owner.claimed_identity(config))
    with pytest.raises(store_owner.ForeignStore, match="contested belongs to"):
        store_owner.claim(folder, store_owner.claimed_identity(other))
    assert [p.name for p in folder.iterdir()] == [STORE_OWNER_FILE]


def test_the_cli_refuses_another_store_in_one_line(tmp_path: Path) -> None:
    owner, intruder = _stores(tmp_path)
    consistency.check(owner)
    result = cli_run(intruder)
    assert result.returncode == 1, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {owner.pipeline_root} belongs to ML Metadata store ")
    assert str(owner.metadata_path) in line and str(intruder.metadata_path) in line
    assert "[ 1/" not in result.stdout


def test_one_store_under_two_spellings_of_its_path_is_one_owner(tmp_path: Path, monkeypatch) -> None:
    config, _ = _stores(tmp_path)
    consistency.check(config)
    monkeypatch.chdir(tmp_path)
    relative = config.replace(metadata_path=Path(config.metadata_path.name))
    assert consistency.check(relative) == relative
    relative.metadata_path.unlink()
    with pytest.raises(store_owner.ForeignStore, match="was replaced or recreated since"):
        consistency.check(relative)


def test_the_mirror_keys_a_store_by_its_uuid_so_a_store_recreated_in_place_is_another(
    tmp_path: Path,
) -> None:
    """The MLflow mirror keys runs by store identity and context id: a store deleted and created
    again at the same path restarts its ids, so it must not share the old store's key."""
    config, _ = _stores(tmp_path)
    unclaimed = connection.store_identity(config)
    assert unclaimed == f"sqlite:{config.metadata_path.resolve()}"
    consistency.check(config)
    first = connection.store_identity(config, connection.open_metadata(config))
    assert first == f"mlmd:{store_owner.recorded_identity(connection.open_metadata(config))}"
    config.metadata_path.unlink()
    for path in _files(config):
        path.unlink()
    consistency.check(config)
    second = connection.store_identity(config, connection.open_metadata(config))
    assert second.startswith("mlmd:") and second != first
