"""The error hierarchy every command raises, and the exit code each kind of failure maps to."""

from __future__ import annotations

EXIT_FAILED = 1
EXIT_INVALID = 2
EXIT_LOCKED = 3
# `run` completed but its model was not blessed (nothing pushed): not a failure, not a success.
EXIT_NOT_BLESSED = 4


class PipelineError(Exception):
    """A user-level problem: the CLI prints it as one `error:` line, never a traceback."""

    exit_code = EXIT_FAILED


class WorkFailed(PipelineError, RuntimeError):
    """The work itself failed (bad data, a failed component, a refused model); exit code 1."""


class InvalidInput(PipelineError, ValueError):
    """Invalid config, flag value or argument; exit code 2."""

    exit_code = EXIT_INVALID


class NotFound(PipelineError, LookupError):
    """What was asked for is not where it should be (store, run, version, file); exit code 1."""


class Locked(PipelineError, RuntimeError):
    """Another run holds the pipeline; exit code 3."""

    exit_code = EXIT_LOCKED
