"""TFX builds no package of itself for the DirectRunner, and still does for remote runners."""

from __future__ import annotations

import pytest

from pipeline.run import beam_staging

pytestmark = pytest.mark.slow  # imports Beam and TFX


@pytest.fixture()
def built(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """TFX's package builder replaced by a recorder, the dependency flags made local-aware."""
    from tfx.utils import dependency_utils

    calls: list[str] = []

    def build() -> str:
        calls.append("built")
        return "/tmp/tfx_ephemeral.tar.gz"

    monkeypatch.setattr(dependency_utils, "build_ephemeral_package", build)
    monkeypatch.setattr(dependency_utils, "make_beam_dependency_flags",
                        dependency_utils.make_beam_dependency_flags)
    beam_staging.skip_tfx_package_for_local_beam()
    return calls


@pytest.mark.parametrize("args", [
    ["--direct_running_mode=in_memory"],
    ["--direct_running_mode=multi_processing", "--direct_num_workers=2"],
    ["--runner=DirectRunner"],
    ["--runner", "direct"],
    [],
])
def test_the_direct_runner_gets_its_args_unchanged_and_no_package(
    built: list[str], args: list[str]
) -> None:
    from tfx.utils import dependency_utils

    assert dependency_utils.make_beam_dependency_flags(args) == args
    assert built == []


@pytest.mark.parametrize("runner", ["DataflowRunner", "FlinkRunner", "PortableRunner"])
def test_remote_runners_keep_tfx_packaging(built: list[str], runner: str) -> None:
    from tfx.utils import dependency_utils

    args = [f"--runner={runner}", "--project=demo"]
    assert dependency_utils.make_beam_dependency_flags(args) == [
        *args, "--extra_package=/tmp/tfx_ephemeral.tar.gz"]
    assert built == ["built"]


def test_a_remote_image_still_skips_packaging(built: list[str]) -> None:
    from tfx.utils import dependency_utils

    args = ["--runner=DataflowRunner", "--sdk_container_image=registry/tfx-pipeline:1"]
    assert dependency_utils.make_beam_dependency_flags(args) == args and built == []


def test_applying_twice_wraps_once(built: list[str]) -> None:
    from tfx.utils import dependency_utils

    first = dependency_utils.make_beam_dependency_flags
    beam_staging.skip_tfx_package_for_local_beam()
    assert dependency_utils.make_beam_dependency_flags is first
