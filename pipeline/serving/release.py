"""Move TF Serving version labels safely: load the version first, confirm it, then move the label.

TF Serving lets a label point only at a version it has loaded (unless the server was started with
--allow_version_labels_for_unavailable_models), so a label move is two writes of models.config:
phase 1 serves the target versions with every label unchanged; phase 2 moves the labels. With a
server address, GetModelStatus over gRPC must report each newly labelled version AVAILABLE
between the two; a failure leaves the labels where they were. `move_labels` is the one function
every label move (serving-config, rollback, their mirrors elsewhere) goes through.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import WorkFailed
from pipeline.serving.server_config import (
    BatchingSettings,
    ServingPlan,
    write_config_files,
)

UNLABELLED_FLAG = "--allow_version_labels_for_unavailable_models"


DEFAULT_TIMEOUT = 120.0


POLL_SECONDS = 1.0


class ServerCheckFailed(WorkFailed):
    """TF Serving did not confirm a version as AVAILABLE: the labels were not moved."""


@dataclass(frozen=True)
class LabelMove:
    """What a label move wrote: the phase-1 plan (None when no label moved) and the final plan."""

    loading: ServingPlan | None
    final: ServingPlan
    moved: dict[str, int]
    confirmed: bool


def loading_plan(current: ServingPlan | None, target: ServingPlan) -> ServingPlan:
    """Phase 1: every version either plan serves is loaded, and the labels stay as they are."""
    versions = set(target.versions) | set(current.versions if current else ())
    labels = dict(current.labels) if current else {}
    return ServingPlan(target.model_name, target.base_path, tuple(sorted(versions)), labels)


def moved_labels(current: ServingPlan | None, target: ServingPlan) -> dict[str, int]:
    """Labels the target adds or points at another version, with their new version."""
    before = current.labels if current else {}
    return {label: v for label, v in sorted(target.labels.items()) if before.get(label) != v}


def status_request(model_name: str, version: int):
    """The GetModelStatusRequest asking TF Serving for one version of a model."""
    from tensorflow_serving.apis import get_model_status_pb2

    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = model_name
    request.model_spec.version.value = version
    return request


def wait_until_available(address: str, model_name: str, version: int, timeout: float) -> None:
    """Poll GetModelStatus until the version is AVAILABLE; an unreachable server, a failed load
    or the timeout raises ServerCheckFailed naming the address."""
    import grpc
    from tensorflow_serving.apis import get_model_status_pb2, model_service_pb2_grpc

    available = get_model_status_pb2.ModelVersionStatus.AVAILABLE
    deadline, state = time.monotonic() + timeout, "not reported"
    with grpc.insecure_channel(address) as channel:
        stub = model_service_pb2_grpc.ModelServiceStub(channel)
        while time.monotonic() < deadline:
            try:
                reply = stub.GetModelStatus(status_request(model_name, version),
                                            timeout=max(deadline - time.monotonic(), 0.1))
            except grpc.RpcError as error:
                if error.code() != grpc.StatusCode.NOT_FOUND:  # NOT_FOUND: config not read yet
                    raise ServerCheckFailed(
                        f"TF Serving at {address} did not answer GetModelStatus for "
                        f"{model_name} version {version}: {error.code().name} "
                        f"({error.details()}); labels not moved") from error
                state = "not loaded yet"
            else:
                statuses = [s for s in reply.model_version_status if s.version == version]
                state = _state_text(statuses)
                if statuses and statuses[0].state == available:
                    return
                if statuses and statuses[0].status.error_code:
                    break
            time.sleep(POLL_SECONDS)
    raise ServerCheckFailed(
        f"TF Serving at {address} did not report {model_name} version {version} AVAILABLE "
        f"within {timeout:g} s (last state: {state}); labels not moved")


def _state_text(statuses: list) -> str:
    """A version's state name and error message, as GetModelStatus reported them."""
    if not statuses:
        return "not reported"
    from tensorflow_serving.apis import get_model_status_pb2

    status = statuses[0]
    name = get_model_status_pb2.ModelVersionStatus.State.Name(status.state)
    return f"{name}: {status.status.error_message}" if status.status.error_message else name


def move_labels(
    current: ServingPlan | None,
    target: ServingPlan,
    output_dir: Path,
    server: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    say: Callable[[str], None] = print,
) -> LabelMove:
    """Write `target` in two phases (load, then move labels) and say what each phase did."""
    batching = BatchingSettings()
    moved = moved_labels(current, target)
    if not moved:
        write_config_files(target, output_dir, batching)
        return LabelMove(None, target, {}, False)
    loading = loading_plan(current, target)
    write_config_files(loading, output_dir, batching)
    say(f"phase 1: serving versions {list(loading.versions)}, labels unchanged {loading.labels}")
    if server is not None:
        for version in sorted(set(moved.values())):
            wait_until_available(server, target.model_name, version, timeout)
            say(f"confirmed: TF Serving at {server} reports version {version} AVAILABLE")
    else:
        say(f"not confirmed (no --server): TF Serving must run with {UNLABELLED_FLAG} (the deploy "
            "manifests pass it), or it rejects a label on a version it has not loaded yet")
    write_config_files(target, output_dir, batching)
    say("phase 2: " + ", ".join(f"{label} -> version {v}" for label, v in moved.items()))
    return LabelMove(loading, target, moved, server is not None)
