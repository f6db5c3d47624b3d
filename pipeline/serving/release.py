"""Release label moves as TF Serving accepts them: serve the version, confirm it, then move the label.

TF Serving's server_core updates its label map before it loads a config's new versions, and
refuses the whole config when an *assigned* label moves to a version that is not AVAILABLE
(`--allow_version_labels_for_unavailable_models` only admits labels not assigned yet). So a move
of an assigned label to a version the server has not loaded is two writes of models.config:
phase 1 serves both versions with every label unchanged; once the version is AVAILABLE (confirmed
with GetModelStatus when a server address is given), phase 2 moves the label and retires the
versions the target no longer serves (the server swaps labels before it unloads). Without a
server, phase 1 is all that is written: the release waits in `release_pending.json` until
`serving-config --complete`. `move_labels` is the one function every label move goes through;
`label_rejections` is server_core's rule, checked before every write.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from pipeline.errors import WorkFailed
from pipeline.serving.server_config import (
    PENDING_FILE,
    BatchingSettings,
    ServingConfigError,
    ServingPlan,
    append_audit,
    write_atomic,
    write_config_files,
)

UNLABELLED_FLAG = "--allow_version_labels_for_unavailable_models"


DEFAULT_TIMEOUT = 120.0


POLL_SECONDS = 1.0


class ServerCheckFailed(WorkFailed):
    """TF Serving did not confirm a version as AVAILABLE: the labels were not moved."""


@dataclass(frozen=True)
class LabelMove:
    """What a label move wrote: the phase-1 plan (None when none was needed), the final plan,
    the labels moved, whether a server confirmed the load, and the versions still awaited."""

    loading: ServingPlan | None
    final: ServingPlan
    moved: dict[str, int]
    confirmed: bool
    pending: tuple[int, ...] = ()


@dataclass(frozen=True)
class PendingRelease:
    """A phase 1 written without a server: the plan it wrote, the target, the awaited versions
    and the audit record to append once the labels move."""

    loading: ServingPlan
    target: ServingPlan
    awaiting: tuple[int, ...]
    record: dict | None


def label_rejections(
    labels_before: Mapping[str, int], available: Collection[int], new: ServingPlan
) -> list[str]:
    """Why TF Serving (with the unlabelled-versions flag) would refuse `new`, or leave a label on
    nothing, while it serves `labels_before` with `available` versions AVAILABLE; [] accepts."""
    problems = []
    for label, version in sorted(new.labels.items()):
        before = labels_before.get(label)
        if before is not None and before != version and version not in available:
            problems.append(f"label '{label}' moves from version {before} to version {version}, "
                            "which is not AVAILABLE yet")
        if version not in new.versions:
            problems.append(f"label '{label}' points at version {version}, which the config "
                            "does not serve")
    return problems


def loading_plan(current: ServingPlan | None, target: ServingPlan) -> ServingPlan:
    """Phase 1: every version either plan serves is loaded, and the labels stay as they are."""
    versions = set(target.versions) | set(current.versions if current else ())
    labels = dict(current.labels) if current else {}
    return ServingPlan(target.model_name, target.base_path, tuple(sorted(versions)), labels)


def moved_labels(current: ServingPlan | None, target: ServingPlan) -> dict[str, int]:
    """Labels the target adds or points at another version, with their new version."""
    before = current.labels if current else {}
    return {label: v for label, v in sorted(target.labels.items()) if before.get(label) != v}


def awaited_versions(current: ServingPlan | None, target: ServingPlan,
                     loaded: Collection[int]) -> tuple[int, ...]:
    """Versions an assigned label moves to that the server has not loaded: each needs phase 1."""
    before = current.labels if current else {}
    return tuple(sorted({v for label, v in moved_labels(current, target).items()
                         if label in before and v not in loaded}))


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


def _servers(server: str | Sequence[str] | None) -> tuple[str, ...]:
    """Every server address to confirm on (one per replica), from one address or several."""
    if server is None:
        return ()
    return (server,) if isinstance(server, str) else tuple(server)


def _write_checked(labels_before: Mapping[str, int], available: Collection[int],
                   plan: ServingPlan, output_dir: Path) -> None:
    """Write the config files only if TF Serving would accept them: a bug here never reaches it."""
    problems = label_rejections(labels_before, available, plan)
    if problems:
        raise ServingConfigError(f"refusing to write {plan.model_name}'s models.config that TF "
                                 f"Serving would reject: {'; '.join(problems)}")
    write_config_files(plan, output_dir, BatchingSettings())


def _confirm(servers: tuple[str, ...], model_name: str, versions: Sequence[int], timeout: float,
             say: Callable[[str], None]) -> None:
    """Wait on every server until each version is AVAILABLE; the first failure raises."""
    for address in servers:
        for version in versions:
            wait_until_available(address, model_name, version, timeout)
            say(f"confirmed: TF Serving at {address} reports version {version} AVAILABLE")


def move_labels(
    current: ServingPlan | None,
    target: ServingPlan,
    output_dir: Path,
    server: str | Sequence[str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    say: Callable[[str], None] = print,
    record: dict | None = None,
) -> LabelMove:
    """Release `target` as TF Serving accepts it, and append `record` to the audit log only once
    its labels moved; without a server a move to an unloaded version stops after phase 1."""
    pending = read_pending(output_dir, target.model_name)
    loaded = set(current.versions if current else ()) - set(pending.awaiting if pending else ())
    labels_now = dict(current.labels) if current else {}
    awaiting = awaited_versions(current, target, loaded)
    loading = None
    if awaiting:
        loading = loading_plan(current, target)
        _write_checked(labels_now, loaded, loading, output_dir)
        say(f"phase 1: serving versions {list(loading.versions)}, labels unchanged {labels_now}")
        servers = _servers(server)
        if not servers:
            write_pending(output_dir, PendingRelease(loading, target, awaiting, record))
            return LabelMove(loading, target, moved_labels(current, target), False, awaiting)
        _confirm(servers, target.model_name, awaiting, timeout, say)
    return _finish(current, target, loaded | set(awaiting), output_dir, say,
                   record, LabelMove(loading, target, {}, bool(awaiting)))


def _finish(current: ServingPlan | None, target: ServingPlan, available: Collection[int],
            output_dir: Path, say: Callable[[str], None], record: dict | None,
            move: LabelMove) -> LabelMove:
    """Phase 2: move the labels and retire what the target no longer serves; then record it."""
    _write_checked(dict(current.labels) if current else {}, available, target, output_dir)
    clear_pending(output_dir)
    moved = moved_labels(current, target)
    if moved:
        say("phase 2: " + ", ".join(f"{label} -> version {v}" for label, v in moved.items()))
    retired = sorted(set(current.versions if current else ()) - set(target.versions))
    if retired:
        say(f"retired: version(s) {', '.join(map(str, retired))} no longer served")
    if record is not None:
        append_audit(output_dir, {**record, "confirmed": move.confirmed})
    return LabelMove(move.loading, target, moved, move.confirmed)


def complete_release(
    current: ServingPlan | None,
    output_dir: Path,
    model_name: str,
    server: str | Sequence[str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    say: Callable[[str], None] = print,
) -> LabelMove:
    """Phase 2 of a pending release: confirmed on the servers given, or on the operator's word."""
    pending = pending_release(output_dir, model_name)
    if current != pending.loading:
        raise ServingConfigError(
            f"{output_dir / 'models.config'} changed since phase 1 of the pending release was "
            "written; run serving-config (or rollback) again")
    servers = _servers(server)
    if servers:
        _confirm(servers, model_name, pending.awaiting, timeout, say)
    else:
        say(f"not confirmed by a server (no --server): completing on your word that version(s) "
            f"{', '.join(map(str, pending.awaiting))} are AVAILABLE")
    return _finish(current, pending.target, set(pending.loading.versions), output_dir, say,
                   pending.record, LabelMove(pending.loading, pending.target, {}, bool(servers)))


def write_pending(output_dir: Path, pending: PendingRelease) -> None:
    """Keep what phase 2 must do, beside the config it completes."""
    write_atomic(output_dir / PENDING_FILE, json.dumps(asdict(pending), sort_keys=True) + "\n")


def clear_pending(output_dir: Path) -> None:
    """Forget a pending release: its labels moved, or a newer release replaced it."""
    (output_dir / PENDING_FILE).unlink(missing_ok=True)


def pending_release(output_dir: Path, model_name: str) -> PendingRelease:
    """The release `--complete` finishes; an error naming the folder when none is pending."""
    pending = read_pending(output_dir, model_name)
    if pending is None:
        raise ServingConfigError(f"no release of model '{model_name}' is pending in {output_dir}")
    return pending


def read_pending(output_dir: Path, model_name: str) -> PendingRelease | None:
    """The release waiting for its phase 2 in `output_dir`, if any; an unreadable file is an
    error naming it."""
    path = output_dir / PENDING_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        plans = [ServingPlan(p["model_name"], p["base_path"], tuple(p["versions"]),
                             {str(k): int(v) for k, v in p["labels"].items()})
                 for p in (data["loading"], data["target"])]
        awaiting = tuple(int(v) for v in data["awaiting"])
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise ServingConfigError(f"{path} is not a pending release ({error}); delete it and run "
                                 "serving-config again") from error
    if plans[1].model_name != model_name:
        return None
    return PendingRelease(plans[0], plans[1], awaiting, data.get("record"))
