"""Does the metadata store still describe the files beside it? Asked before a run writes anything.

TFX names each output folder after its execution: `<pipeline_root>/<node>/<output>/<execution id>`.
A store that lost executions (deleted, emptied, replaced, restored from an old backup) hands the
next executions ids that earlier runs already used, and TFX clears an output folder before its
executor writes: earlier artifacts would be overwritten. A store that lost the pushes of the
versions being served has no baseline to compare a new model with: it would be blessed unchecked.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from pipeline.config import MetadataBackend, PipelineConfig, is_uri
from pipeline.errors import WorkFailed
from pipeline.metadata import connection, pushes
from pipeline.metadata.records import pushed_version
from pipeline.run import store_owner
from pipeline.serving import layout

START_OVER_PREFIX = "start-over-"


class StoreMismatch(WorkFailed):
    """The store no longer matches the pipeline root or the serving directory; exit code 1."""


@dataclass(frozen=True)
class StoreState:
    """What the store says about the files: its newest execution id and the pushed versions."""

    state: str
    last_execution_id: int
    pushed_versions: tuple[int, ...]


def artifact_folders(root: Path) -> dict[int, Path]:
    """Output folders earlier runs left, by the execution id in their name (the newest path)."""
    if not root.is_dir():
        return {}
    folders = {}
    for folder in sorted(root.glob("[!.]*/[!.]*/[0-9]*")):
        if folder.name.isdigit() and folder.is_dir():
            folders[int(folder.name)] = folder
    return folders


def store_state(config: PipelineConfig) -> StoreState:
    """Open the store read-only (a corrupt one raises LineageError, named) and read its state."""
    from ml_metadata import metadata_store

    if config.metadata_backend is MetadataBackend.SQLITE:
        if not config.metadata_path.exists():
            return StoreState("is missing", 0, ())
        if config.metadata_path.is_file() and config.metadata_path.stat().st_size == 0:
            return StoreState("is empty", 0, ())
    store = connection.open_metadata(config)
    newest = store.get_executions(list_options=metadata_store.ListOptions(
        limit=1, order_by=metadata_store.OrderByField.ID, is_asc=False))
    versions = (pushed_version(a) for a in pushes.pushed_models(store, config.pipeline_name))
    pushed = tuple(sorted(int(v) for v in versions if v and v.isdigit()))
    last = newest[0].id if newest else 0
    return StoreState("records no execution" if not last else f"records {last} execution(s)",
                      last, pushed)


def _needs_store(config: PipelineConfig, folders: dict[int, Path], served: list[int]) -> bool:
    """Whether to open the store: files to compare, or a SQLite file that must at least open."""
    if folders or served:
        return True
    return config.metadata_backend is MetadataBackend.SQLITE and config.metadata_path.is_file()


def check(config: PipelineConfig, start_over: bool = False) -> PipelineConfig:
    """The config to run with, once the store owns and still describes the files; else
    StoreMismatch or store_owner.ForeignStore. This store then owns the pipeline root and the
    served model's folder (store_owner.claim).

    With start_over, a pipeline root the store does not match (lost executions, or a store
    recreated at the same place) is left as it is and this run writes under a new
    `start-over-<time>` folder in it; a serving directory that does not match is refused even then.
    """
    if is_uri(config.pipeline_root):
        return config
    root, base = Path(config.pipeline_root), _served_folder(config)
    owners = {f: store_owner.owner_of(f) for f in (root, base) if f is not None}
    this = store_owner.current_identity(config) if any(owners.values()) else None
    foreign = {f: o for f, o in owners.items()
               if o is not None and (this is None or o.store_id != this.store_id)}
    for folder, owner in foreign.items():
        if not (folder == root and start_over and owner.location == store_owner.location(config)):
            raise store_owner.ForeignStore(store_owner.foreign_message(
                folder, owner, this, store_owner.location(config)))
    config = _matching_files(config, root, base, start_over or root in foreign, root in foreign)
    identity = store_owner.claimed_identity(config)
    for claimed in (Path(config.pipeline_root), base):
        if claimed is not None:
            store_owner.claim(claimed, identity)
    return config


def _served_folder(config: PipelineConfig) -> Path | None:
    """The served model's folder; None on an object store, which is the cluster's to check (the
    local runner refuses it)."""
    if is_uri(config.serving_dir):
        return None
    return layout.model_base_path(Path(str(config.serving_dir)), config.model_name)


def _matching_files(config: PipelineConfig, root: Path, base: Path | None, start_over: bool,
                    replaced: bool) -> PipelineConfig:
    """The config once the store records every artifact folder and served version beside it;
    a pipeline root it does not match moves to a new folder with start_over."""
    folders = artifact_folders(root)
    served = layout.list_versions(base) if base is not None else []
    if not (replaced or _needs_store(config, folders, served)):
        return config
    store = store_state(config)
    where = f"the metadata store {config.metadata_location} {store.state}"
    pushed = store.pushed_versions
    unrecorded = [] if base is None else layout.unrecorded_versions(base, {str(v) for v in pushed})
    if base is not None and unrecorded and (not pushed or max(served) > max(pushed)):
        raise StoreMismatch(
            f"{base} serves version(s) {', '.join(map(str, unrecorded))} that {where} does not "
            f"record as pushed by pipeline '{config.pipeline_name}': {_cause(base)}; a new model "
            "could not be compared with the version being served. Run with the store that "
            "pushed them, or push to a new --serving-dir")
    lost = {i: f for i, f in folders.items() if i > store.last_execution_id}
    if not (lost or replaced):
        return config
    if not start_over:
        raise StoreMismatch(
            f"{root} holds artifacts of {len(lost)} execution(s) that {where} does not know "
            f"(newest: {lost[max(lost)]}): {_cause(root)}; running now would reuse their ids "
            "and overwrite them. Run with the store that wrote them, or start a new "
            "--pipeline-root (or pass --start-over: this run then writes under a new folder of "
            "the root, keeping every earlier artifact)")
    fresh = root / f"{START_OVER_PREFIX}{dt.datetime.now().strftime('%Y%m%d-%H%M%S-%f')}"
    print(f"start over  {where} but {root} holds earlier artifacts: kept; this run writes under "
          f"{fresh} (pass --pipeline-root {fresh} from now on)", flush=True)
    return config.replace(pipeline_root=fresh)


def _cause(folder: Path) -> str:
    """Why a store lacks what a folder holds: its owner file tells apart another store and
    this very store having lost records (restored from an older backup, or emptied)."""
    if store_owner.owner_of(folder) is not None:
        return ("this store wrote them and has since lost their records (restored from an older "
                "backup, or rows deleted)")
    return ("another store wrote them (e.g. another runner's, with other metadata settings), or "
            "this store lost their records")
