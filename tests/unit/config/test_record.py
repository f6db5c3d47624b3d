"""The config recorded in MLMD round-trips to the same typed config, and never holds a secret."""

from __future__ import annotations

import json

from pipeline.config import BeamMode, PipelineConfig
from pipeline.config.record import config_from_record, config_record


def test_config_record_round_trips_through_json_without_the_password() -> None:
    config = PipelineConfig(metadata_password="s3cret", beam_mode=BeamMode.MULTI_PROCESSING)
    record = json.loads(json.dumps(config_record(config)))
    assert "s3cret" not in json.dumps(record)
    rebuilt = config_from_record(record)
    assert rebuilt == config.replace(metadata_password="")
