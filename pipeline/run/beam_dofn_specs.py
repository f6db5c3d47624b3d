"""Beam's question "does this DoFn use state or timers?" answered once per DoFn object.

While it builds, translates and runs a pipeline, Beam asks `userstate.get_dofn_specs` about the same
DoFn object again and again (ParDo's constructor, the DirectRunner's visits, `to_runner_api`,
`is_stateful_dofn`, `validate_stateful_dofn`, the bundle processor), and each answer wraps every
method of the DoFn with `inspect.signature`: 6,114 calls and 3.1 s of a 41 s cold run on the
bundled data (docs/performance.md). The answer depends only on the object's methods, which do not
change once it is built, so it is kept for as long as the object lives. Beam worker processes
(multi_processing) keep Beam's own function.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable
from typing import Any

Specs = tuple[set[Any], set[Any]]


def answer_once_per_dofn() -> None:
    """Make `userstate.get_dofn_specs` remember its answer per live DoFn object (idempotent)."""
    from apache_beam.transforms import userstate

    current = userstate.get_dofn_specs
    if getattr(current, "remembers_answers", False):
        return
    userstate.get_dofn_specs = remembering(current)  # type: ignore[assignment]


def remembering(inspect_specs: Callable[[Any], Specs]) -> Callable[[Any], Specs]:
    """inspect_specs, computed once per object: keyed by identity (a DoFn's __eq__ is not trusted),
    dropped when the object is collected; each caller gets its own copy of the two sets."""
    answers: dict[int, tuple[weakref.ref[Any], Specs]] = {}

    @functools.wraps(inspect_specs)
    def specs(dofn: Any) -> Specs:
        known = answers.get(id(dofn))
        if known is not None and known[0]() is dofn:
            states, timers = known[1]
            return set(states), set(timers)
        states, timers = inspect_specs(dofn)
        key = id(dofn)

        def forget(dead: weakref.ref[Any]) -> None:
            if answers.get(key, (None,))[0] is dead:
                del answers[key]

        try:
            reference = weakref.ref(dofn, forget)
        except TypeError:  # an object without weak references: answered afresh each time
            return states, timers
        answers[key] = (reference, (set(states), set(timers)))
        return states, timers

    specs.remembers_answers = True  # type: ignore[attr-defined]
    return specs
