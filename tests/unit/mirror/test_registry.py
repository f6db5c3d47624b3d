"""The registry follows serving, on a small fake ML Metadata store (two pushed runs): a version per
push, `stable`/`canary` where the models.config labels point, and `rollback` moving `stable`."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.__main__ import main
from pipeline.mirror.settings import mirror_settings
from pipeline.mirror.sync import sync
from pipeline.serving.server_config import MODELS_CONFIG, BatchingSettings, plan_config, write_config_files
from tests.support.configs import small_config
from tests.support.mlflow_store import empty_store
from tests.support.mlmd_fake import evaluated_and_pushed_runs

pytestmark = pytest.mark.slow  # imports MLflow (a few seconds)


def aliases(settings, name: str) -> dict[str, str]:
    """Alias -> TF Serving version, read back from the registry."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)
    model = client.get_registered_model(name)
    return {alias: client.get_model_version(name, version).tags["serving_version"]
            for alias, version in model.aliases.items()}


def test_aliases_follow_the_serving_labels_and_rollback(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.delenv("PIPELINE_TRACKING_URI", raising=False)  # rollback moves the default store's aliases
    config = small_config(tmp_path)
    evaluated_and_pushed_runs(config.metadata_path, tmp_path)
    settings = empty_store(tmp_path / "mlflow")  # where mirror_settings(config) puts it
    assert settings == mirror_settings(config)
    output = tmp_path / "serving_config"

    first = sync(config, settings, output / MODELS_CONFIG)
    assert first.added == ["run-1", "run-2"] and first.versions_added == ["1", "2"]
    assert aliases(settings, config.model_name) == {"stable": "2"}  # no models.config: the newest

    plan = plan_config(config.model_name, str(config.serving_dir), [1, 2], stable=1, canary=2)
    write_config_files(plan, output, BatchingSettings())
    again = sync(config, settings, output / MODELS_CONFIG)
    assert again.added == [] and again.versions_added == []
    assert aliases(settings, config.model_name) == {"stable": "1", "canary": "2"}

    assert main(["rollback", "--metadata", str(config.metadata_path), "--serving-dir",
                 str(config.serving_dir), "--output-dir", str(output), "--to", "2"]) == 0
    assert "stable: version 1 -> 2" in capsys.readouterr().out
    assert aliases(settings, config.model_name) == {"stable": "2"}


def test_live_metrics_are_a_series_on_the_run_that_pushed_the_version(tmp_path: Path) -> None:
    from mlflow import MlflowClient

    from pipeline.scoring.feedback import FeedbackResult, ModelLive
    from pipeline.scoring.live_recording import record_feedback

    config = small_config(tmp_path)
    evaluated_and_pushed_runs(config.metadata_path, tmp_path)
    settings = empty_store(tmp_path / "mlflow")
    models_config = tmp_path / "serving_config" / MODELS_CONFIG

    def feedback(step: int, auc: float) -> None:
        model = ModelLive(1, ("stable",), 10, {"auc": auc, "accuracy": 0.5}, {}, ())
        record_feedback(config, FeedbackResult(f"f{step}", step, 10, 0, (), (model,), None,
                                               tmp_path / f"labels-{step}.csv"), "labels.csv")

    feedback(1, 0.81)
    assert sync(config, settings, models_config).live_logged == 2
    feedback(2, 0.74)
    assert sync(config, settings, models_config).live_logged == 2
    assert sync(config, settings, models_config).live_logged == 0  # nothing new: nothing logged
    client = MlflowClient(tracking_uri=settings.tracking_uri)
    [run] = client.search_runs([client.get_experiment_by_name(config.pipeline_name).experiment_id],
                               filter_string="attributes.run_name LIKE '% | run-1'")
    history = client.get_metric_history(run.info.run_id, "live_auc")
    assert sorted((m.step, m.value) for m in history) == [(1, 0.81), (2, 0.74)]
