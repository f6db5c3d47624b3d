"""Secrets never written anywhere: the password type, log records masked by type, private log
files, credential Beam options masked in the console, the run context and error messages."""

from __future__ import annotations

import json
import logging
import os
import stat
from pathlib import Path

import pytest
from absl import logging as absl_logging
from tfx.proto.orchestration import executable_spec_pb2, local_deployment_config_pb2

from pipeline.__main__ import main
from pipeline.config import ConfigError, config_from_values
from pipeline.config.record import config_from_record, config_record
from pipeline.config.secrets import MASK, Secret, mask_beam_args, without_credentials
from pipeline.logs import masked_log_records, private_file, verbose_output_to
from pipeline.metadata.connection import metadata_connection
from tests.support.configs import SAMPLE_DATA, parse_run_args
from tests.support.secrets import HOSTILE_PASSWORDS, core, leaks, leaks_in_files

SERVER = ["--data", str(SAMPLE_DATA), "--schema", "infer", "--metadata-backend", "mysql",
          "--metadata-host", "db.internal", "--metadata-user", "tfx"]
ids = [core(p) for p in HOSTILE_PASSWORDS]


def _credential_args(secret: str) -> list[str]:
    """Beam options carrying the secret, in each way Beam accepts them."""
    return [f"--s3_secret_access_key={secret}", "--aws_session_token", secret,
            f"--service_account_key_file={secret}", f"--HDFS-Password={secret}",
            "--project=demo"]


@pytest.mark.parametrize("secret", HOSTILE_PASSWORDS, ids=ids)
def test_the_password_shows_only_its_mask_and_reaches_the_connection_intact(secret) -> None:
    config = parse_run_args(SERVER, {"PIPELINE_METADATA_PASSWORD": secret})
    password = config.metadata_password
    as_logged = "%s %r" % (password, password)  # noqa: UP031  (what a log call does)
    shown = [repr(config), str(config), f"{password}", as_logged, repr(password), str([password]),
             config.metadata_location, json.dumps(config_record(config))]
    assert [leaks(text, secret) for text in shown] == [[]] * len(shown)
    assert isinstance(password, Secret) and password.reveal() == secret
    assert metadata_connection(config).mysql.password == secret, "the server still gets it"
    with pytest.raises(AttributeError):
        password._value = "changed"


def _deployment_config(secret: str) -> local_deployment_config_pb2.LocalDeploymentConfig:
    """What TFX's LocalDagRunner logs before running: the MLMD connection and the Beam args."""
    config = parse_run_args(SERVER, {"PIPELINE_METADATA_PASSWORD": secret})
    deployment = local_deployment_config_pb2.LocalDeploymentConfig()
    deployment.metadata_connection_config.database_connection_config.CopyFrom(
        metadata_connection(config))
    spec = executable_spec_pb2.BeamExecutableSpec(beam_pipeline_args=_credential_args(secret))
    for arg in (f"--api_token={secret}", "--aws_session_token", secret):  # one message per arg
        spec.beam_pipeline_args_placeholders.add().value.string_value = arg
    deployment.executor_specs["CsvExampleGen"].beam_executable_spec.CopyFrom(spec)
    return deployment


@pytest.mark.parametrize("secret", HOSTILE_PASSWORDS, ids=ids)
def test_tfx_and_beam_log_calls_write_no_secret(tmp_path: Path, secret: str) -> None:
    deployment = _deployment_config(secret)
    log = tmp_path / "logs" / "run.log"
    with verbose_output_to(log), masked_log_records():
        absl_logging.set_verbosity(absl_logging.INFO)
        # The calls TFX 1.16's LocalDagRunner.run_with_ir and Beam's PipelineOptions make.
        absl_logging.info("Using deployment config:\n %s", deployment)
        connection = deployment.metadata_connection_config.database_connection_config
        absl_logging.info("Using connection config:\n %s", connection.mysql)
        logging.getLogger("apache_beam").warning(
            "Discarding unparseable args: %s", _credential_args(secret))
        logging.info("options %(args)s", {"args": tuple(_credential_args(secret))})
        try:
            raise RuntimeError(f"bad option --s3_secret_access_key={secret!r} given")
        except RuntimeError:
            logging.exception("run failed in %s", "CsvExampleGen")
    assert leaks_in_files(secret, tmp_path) == {}
    text = log.read_text()
    assert "Using deployment config" in text and "db.internal" in text and "--project=demo" in text
    assert f'password: "{MASK}"' in text and f"--s3_secret_access_key={MASK}" in text
    assert "Traceback" in text and "run failed in CsvExampleGen" in text
    assert stat.S_IMODE(log.stat().st_mode) == 0o600


def test_log_files_are_private_whatever_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        with verbose_output_to(tmp_path / "logs" / "a.log"):
            pass
        existing = tmp_path / "b.log"
        existing.write_text("old\n")
        existing.chmod(0o644)
        with private_file(existing) as handle:
            handle.write("new\n")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "logs" / "a.log").stat().st_mode) == 0o600
    assert stat.S_IMODE(existing.stat().st_mode) == 0o600 and existing.read_text() == "old\nnew\n"


@pytest.mark.parametrize(
    ("args", "shown", "kept"),
    [
        (["--s3_secret_access_key=a b"], ["--s3_secret_access_key=****"], []),
        (["--aws_session_token", "-x", "--region=r"], ["--aws_session_token", "****", "--region=r"],
         ["--region=r"]),
        (["--dataflow_kms_key=k", "--project=p"], ["--dataflow_kms_key=****", "--project=p"],
         ["--project=p"]),
        (["--hdfs_password=", "--hdfs_user=u"], ["--hdfs_password=****", "--hdfs_user=u"],
         ["--hdfs_user=u"]),
        (["--gcp_oauth_credentials_file=/c.json"], ["--gcp_oauth_credentials_file=****"], []),
        (["--runner=DataflowRunner", "--temp_location=gs://b/t"],
         ["--runner=DataflowRunner", "--temp_location=gs://b/t"],
         ["--runner=DataflowRunner", "--temp_location=gs://b/t"]),
    ],
)
def test_credential_beam_options_are_masked_by_name(args, shown, kept) -> None:
    assert mask_beam_args(args) == shown
    assert without_credentials(args) == kept


@pytest.mark.parametrize("secret", HOSTILE_PASSWORDS[:4], ids=ids[:4])
def test_run_context_and_reproduce_never_carry_beam_credentials(secret: str) -> None:
    config = config_from_values({"data_dir": str(SAMPLE_DATA), "schema_path": "infer",
                                 "extra_beam_args": tuple(_credential_args(secret))})
    record = config_record(config)
    assert leaks(json.dumps(record), secret) == []
    assert "--s3_secret_access_key=****" in record["extra_beam_args"]
    rebuilt = config_from_record(record)
    assert rebuilt.extra_beam_args == ("--project=demo",)


def test_a_bad_beam_args_value_is_refused_without_repeating_it() -> None:
    secret = HOSTILE_PASSWORDS[0]
    with pytest.raises(ConfigError) as refused:
        config_from_values({"data_dir": str(SAMPLE_DATA), "schema_path": "infer",
                            "extra_beam_args": f"--s3_secret_access_key='{secret}"})
    assert "extra_beam_args" in str(refused.value) and leaks(str(refused.value), secret) == []


def test_compile_kfp_refuses_credentials_before_writing_a_spec(tmp_path: Path, capsys) -> None:
    secret = HOSTILE_PASSWORDS[1]
    output = tmp_path / "spec.json"
    code = main(["compile-kfp", "--output", str(output), "--data", str(SAMPLE_DATA),
                 "--schema", "infer", "--pipeline-root", "gs://demo-bucket/root",
                 f"--beam-args=--s3_secret_access_key='{secret}' --project=demo"])
    captured = capsys.readouterr()
    assert code == 2 and not output.exists()
    [line] = captured.err.strip().splitlines()
    assert line.startswith("error: invalid config extra_beam_args: --s3_secret_access_key would")
    assert leaks(captured.out + captured.err, secret) == []

