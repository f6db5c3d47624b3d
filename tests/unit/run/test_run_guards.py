"""Storage checks and the run lock: refused before any work, never stuck."""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.config import PROJECT_ROOT, Location
from pipeline.data.preflight import PreflightError, check_storage
from pipeline.run.local_runner import run_pipeline
from pipeline.run.run_lock import LOCK_FILE, RunLockedError, lock_paths, run_lock
from tests.support.configs import small_config
from tests.support.faults import cli_run, fake_served_version


@contextlib.contextmanager
def mounted_tmpfs(path: Path, options: str) -> Iterator[Path]:
    """A tmpfs at `path` (needs root and CAP_SYS_ADMIN, else the test is skipped)."""
    path.mkdir(parents=True)
    mount = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                           capture_output=True, text=True)
    if mount.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mount.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)


def test_read_only_serving_dir_is_refused_before_any_work(tmp_path: Path) -> None:
    with mounted_tmpfs(tmp_path / "ro", "ro,size=1m") as read_only:
        config = small_config(tmp_path, serving_dir=read_only / "serving_model", min_free_mb=0)
        with pytest.raises(PreflightError, match="storage check failed") as error:
            run_pipeline(config)
    expected = f"serving_dir {read_only / 'serving_model'}: not writable (Read-only file system"
    assert expected in str(error.value)
    assert not config.pipeline_root.exists() and not config.metadata_path.exists()


def test_full_disk_is_refused_before_any_work(tmp_path: Path) -> None:
    with mounted_tmpfs(tmp_path / "tiny", "size=1m") as tiny:
        config = small_config(tmp_path, pipeline_root=tiny / "root", min_free_mb=10)
        with pytest.raises(PreflightError) as error:
            run_pipeline(config)
    expected = f"pipeline_root {tiny / 'root'}: only 1.0 MB free on its file system, at least 10 MB"
    assert expected in str(error.value)
    assert not config.metadata_path.exists()


def test_free_space_threshold_above_what_is_available(tmp_path: Path) -> None:
    folders = {"pipeline_root": tmp_path / "a", "log_dir": tmp_path / "b"}
    with pytest.raises(PreflightError) as error:
        check_storage(folders, min_free_mb=1 << 40)
    assert [p.split(":")[0] for p in error.value.problems] == [
        f"pipeline_root {tmp_path / 'a'}", f"log_dir {tmp_path / 'b'}"]
    check_storage(folders, min_free_mb=1)


def test_a_file_where_a_folder_is_expected(tmp_path: Path) -> None:
    (tmp_path / "root").write_text("")
    with pytest.raises(PreflightError, match="exists and is not a directory"):
        check_storage({"pipeline_root": tmp_path / "root"}, min_free_mb=0)


def test_cli_storage_failure_exits_1(tmp_path: Path) -> None:
    config = small_config(tmp_path)
    done = cli_run(config, "--min-free-mb", str(1 << 40))
    assert done.returncode == 1
    assert "error: storage check failed, nothing was run:\n" in done.stderr
    assert f"  pipeline_root {config.pipeline_root}: only " in done.stderr


HOLD_LOCK = (
    "import sys, time\nfrom pathlib import Path\nfrom pipeline.config import location\n"
    "from pipeline.run.run_lock import run_lock\n"
    "with run_lock(location(sys.argv[1]), Path(sys.argv[2])):\n"
    "    print('locked', flush=True)\n    time.sleep(600)\n"
)


@contextlib.contextmanager
def lock_held_by_another_process(root: Location, metadata: Path) -> Iterator[subprocess.Popen]:
    """A child process holding the run lock until the test kills it."""
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(root), str(metadata)],
                              cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        yield holder
    finally:
        holder.kill()
        holder.wait()


def test_second_run_refuses_at_once_naming_the_holder(tmp_path: Path) -> None:
    config = small_config(tmp_path)
    with lock_held_by_another_process(config.pipeline_root, config.metadata_path) as holder:
        started = time.monotonic()
        done = cli_run(config)
        seconds = time.monotonic() - started
    assert done.returncode == 3
    assert f"another run (pid {holder.pid}) is using this pipeline" in done.stderr
    assert seconds < 20
    assert not config.metadata_path.exists()


def test_lock_on_the_metadata_store_alone_also_refuses(tmp_path: Path) -> None:
    metadata = tmp_path / "metadata.sqlite"
    with lock_held_by_another_process(tmp_path / "other_root", metadata) as holder:
        with pytest.raises(RunLockedError, match=f"pid {holder.pid}.*metadata.sqlite.lock"):
            with run_lock(tmp_path / "root", metadata):
                pass


def test_stale_lock_of_a_killed_run_does_not_block(tmp_path: Path) -> None:
    root, metadata = tmp_path / "root", tmp_path / "metadata.sqlite"
    with lock_held_by_another_process(root, metadata) as holder:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    assert (root / LOCK_FILE).read_text().strip() == str(holder.pid)
    with run_lock(root, metadata):
        assert (root / LOCK_FILE).read_text().strip() == str(os.getpid())


def test_refused_run_leaves_served_versions_alone(tmp_path: Path) -> None:
    config = small_config(tmp_path)
    version = fake_served_version(config)
    with lock_held_by_another_process(config.pipeline_root, config.metadata_path):
        assert cli_run(config).returncode == 3
    assert (version / "saved_model.pb").read_bytes() == b"model v1"


def test_a_holder_that_has_not_written_its_pid_yet_is_still_named(tmp_path: Path) -> None:
    lock = tmp_path / "root" / LOCK_FILE
    lock.parent.mkdir()
    fd = os.open(lock, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        threading.Timer(0.3, os.write, (fd, b"4242\n")).start()
        with pytest.raises(RunLockedError, match=r"another run \(pid 4242\)"):
            with run_lock(tmp_path / "root", tmp_path / "metadata.sqlite"):
                pass
    finally:
        os.close(fd)


def test_uri_roots_are_left_to_their_object_store(tmp_path: Path) -> None:
    folders = {"pipeline_root": "gs://bucket/root", "log_dir": tmp_path / "logs"}
    with pytest.raises(PreflightError) as error:
        check_storage(folders, min_free_mb=1 << 40)
    assert [p.split(":")[0] for p in error.value.problems] == [f"log_dir {tmp_path / 'logs'}"]
    check_storage({"pipeline_root": "gs://bucket/root"}, min_free_mb=1 << 40)


def test_a_uri_root_is_locked_in_a_local_file_named_by_the_uri(tmp_path: Path) -> None:
    metadata = tmp_path / "store" / "metadata.sqlite"
    root_lock, store_lock = lock_paths("gs://bucket/root", metadata)
    assert root_lock.parent == tmp_path / "store" / "locks"
    assert root_lock.name.startswith("pipeline-root-") and "gs:" not in str(root_lock)
    assert lock_paths("gs://bucket/root/", metadata)[0] == root_lock
    assert lock_paths("gs://bucket/other", metadata)[0] != root_lock
    assert store_lock == tmp_path / "store" / "metadata.sqlite.lock"


def test_a_run_on_a_uri_root_held_elsewhere_exits_3_not_2(tmp_path: Path) -> None:
    root = "gs://bucket/pipelines/taxi"
    config = small_config(tmp_path, pipeline_root=root)
    # The holder uses another store in the same folder: only the root's lock can refuse.
    with lock_held_by_another_process(root, tmp_path / "other.sqlite") as holder:
        done = cli_run(config)
    assert done.returncode == 3, done.stderr
    assert f"another run (pid {holder.pid}) is using this pipeline" in done.stderr
    assert "locks/pipeline-root-" in done.stderr
    assert not (PROJECT_ROOT / "gs:").exists() and not config.metadata_path.exists()


def test_a_run_on_data_under_a_uri_is_refused_with_exit_2(tmp_path: Path) -> None:
    done = cli_run(small_config(tmp_path), "--data", "gs://bucket/data")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: invalid config data_dir: gs://bucket/data is a URI; spans, data fingerprint and "
        "input checks read a local data_dir"]
