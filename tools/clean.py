"""`make clean`: delete the local state folder, asking first; refused while an Airflow launcher
runs on its default home, and never deleting served model versions unless asked by name. What a
crashed launcher left running there (scheduler, UI, PostgreSQL) is stopped before its files go.

Served versions may be what TF Serving is answering with right now: with any of them under the
state folder (local runs' or the production Airflow's), nothing is deleted unless CLEAN_SERVED=1.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

from pipeline.config import STATE_DIR
from pipeline.services import launcher_lock, postgres_server
from pipeline.services.postgres_server import LocalCluster
from pipeline.serving import layout

SERVING_FOLDERS = ("serving_model", "airflow/state/serving_model")


def served_versions(state: Path) -> list[Path]:
    """Every model version TF Serving could load from a serving folder under the state folder."""
    found = []
    for folder in (state / name for name in SERVING_FOLDERS):
        for model in sorted(folder.iterdir()) if folder.is_dir() else []:
            found += [model / str(v) for v in layout.list_versions(model)]
    return found


def refusal(state: Path, delete_served: bool) -> str | None:
    """Why the state folder must not be deleted now, or None."""
    running = launcher_lock.holder(state / "airflow")
    if running is not None:
        return (f"Airflow is running on {state / 'airflow'} (launcher pid {running.get('pid')}, "
                f"UI {running.get('url')}): stop it first (Ctrl-C in its terminal)")
    served = served_versions(state)
    if served and not delete_served:
        listed = ", ".join(str(p) for p in served[:5]) + (" ..." if len(served) > 5 else "")
        return (f"{len(served)} served model version(s) under {state} ({listed}): "
                "`make clean CLEAN_SERVED=1` deletes them too, or move them first")
    return None


def clean(state: Path, delete_served: bool, ask: Callable[[str], str]) -> int:
    """Delete the state folder once nothing refuses and the person answers yes; exit code."""
    if not state.exists():
        print(f"nothing to clean: {state} does not exist")
        return 0
    problem = refusal(state, delete_served)
    if problem is not None:
        print(f"error: {problem}; nothing deleted", file=sys.stderr)
        return 1
    try:
        answer = ask(f"delete {state} (artifacts, ML Metadata, served versions, logs, Airflow's "
                     "home and database)? [y/N] ")
    except EOFError:
        answer = ""
    if answer.strip().lower() not in ("y", "yes"):
        print("nothing deleted")
        return 1
    home = state / "airflow"
    with launcher_lock.held(home, "make clean"):  # no launcher starts while the files go
        stopped = launcher_lock.stop_orphans(home)
        postgres_server.stop(LocalCluster(home / "state" / "postgres"))
        shutil.rmtree(state)
    if stopped:
        print(f"stopped the scheduler and UI a crashed launcher left running (pids "
              f"{', '.join(map(str, stopped))}) and its database")
    print(f"deleted {state}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of `make clean`."""
    parser = argparse.ArgumentParser(prog="python -m tools.clean", description=__doc__)
    parser.add_argument("--served", action="store_true", help="also delete served versions")
    parser.add_argument("--yes", action="store_true", help="do not ask")
    args = parser.parse_args(argv)
    return clean(STATE_DIR, args.served, (lambda _: "yes") if args.yes else input)


if __name__ == "__main__":
    sys.exit(main())
