"""Where a binary model's class output starts: the decision threshold recorded beside the pushed
version (chosen on the training split), or 0.5 for a version without one, said in one line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.config.project import Project, Task
from pipeline.serving import layout
from pipeline.vocabulary import DEFAULT_DECISION_THRESHOLD, DecisionThreshold


@dataclass(frozen=True)
class ClassCut:
    """The probability of the positive class from which a row is called positive, and its source."""

    threshold: float
    positive: str
    version: int | None
    record: DecisionThreshold | None

    def describe(self) -> str:
        """'class '1' from probability 0.3127 (max_f1 on the training split)'."""
        source = (f"{self.record.rule} on the training split" if self.record
                  else "no threshold recorded")
        return f"class '{self.positive}' from probability {self.threshold:.4g} ({source})"

    def note(self) -> str:
        """One line when the version has no recorded threshold (empty when it has one)."""
        if self.record is not None:
            return ""
        which = f"version {self.version}" if self.version is not None else "the answering version"
        return (f"{which} records no decision threshold (pushed before thresholds were recorded, "
                f"or not found under the serving dir): class '{self.positive}' from probability "
                f"{DEFAULT_DECISION_THRESHOLD}")


def class_cut(project: Project, base_path: Path | None, version: int | None) -> ClassCut | None:
    """The cut of a binary project's version under a model's base path (None for other tasks);
    without the base path or the version, no threshold is found."""
    if project.task is not Task.BINARY:
        return None
    record = None
    if base_path is not None and version is not None:
        record = layout.decision_threshold(base_path / str(version))
    threshold = record.threshold if record else DEFAULT_DECISION_THRESHOLD
    return ClassCut(threshold, project.classes[1], version, record)
