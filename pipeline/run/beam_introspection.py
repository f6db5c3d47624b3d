"""Two questions Beam asks again and again about the same objects, answered once per object.

While it builds, translates and runs a pipeline in this process, Beam asks
- `userstate.get_dofn_specs(dofn)` (does the DoFn use state or timers?) about the same DoFn object
  up to 9 times (ParDo's constructor, the DirectRunner's visits, `to_runner_api`, the bundle
  processor...), each answer wrapping every method of the DoFn with `inspect.signature`;
- `PipelineOptions.view_as(cls)` twice per applied transform, each building an argparse parser
  for the options class and parsing the run's flags again.
On the bundled data that was 6,114 and 3,280 calls, 3.1 s and 1.1 s of a 41 s cold run
(docs/performance.md). Both answers depend only on the object (a DoFn's methods, the options'
flags), which do not change once it is built, so each is kept for as long as the object lives.
Beam's views share one store of option values, so the view handed out again is the same view.
Beam worker processes (multi_processing) keep Beam's own functions.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable, Hashable
from typing import Any

Specs = tuple[set[Any], set[Any]]
MARK = "answers_once_per_object"


def answer_once_per_object() -> None:
    """Install both memos in Beam (idempotent)."""
    from apache_beam.options.pipeline_options import PipelineOptions
    from apache_beam.transforms import userstate

    if not getattr(userstate.get_dofn_specs, MARK, False):
        userstate.get_dofn_specs = dofn_specs_remembered(  # type: ignore[assignment]
            userstate.get_dofn_specs)
    if not getattr(PipelineOptions.view_as, MARK, False):
        PipelineOptions.view_as = per_object(PipelineOptions.view_as)  # type: ignore[method-assign]


def dofn_specs_remembered(inspect_specs: Callable[[Any], Specs]) -> Callable[[Any], Specs]:
    """inspect_specs once per DoFn object; each caller gets its own copy of the two sets."""
    remembered = per_object(lambda dofn: _frozen(inspect_specs(dofn)))

    @functools.wraps(inspect_specs)
    def specs(dofn: Any) -> Specs:
        states, timers = remembered(dofn)
        return set(states), set(timers)

    setattr(specs, MARK, True)
    return specs


def _frozen(specs: Specs) -> tuple[frozenset[Any], frozenset[Any]]:
    """The two sets, immutable while they are kept."""
    return frozenset(specs[0]), frozenset(specs[1])


def per_object(compute: Callable[..., Any]) -> Callable[..., Any]:
    """compute(obj, *args) once per live object and args: keyed by identity (an object's __eq__
    is not trusted), dropped when the object is collected; errors are not kept; an object without
    weak references is computed afresh each time."""
    answers: dict[int, tuple[weakref.ref[Any], dict[tuple[Hashable, ...], Any]]] = {}

    @functools.wraps(compute)
    def remembered(obj: Any, *args: Hashable) -> Any:
        known = answers.get(id(obj))
        if known is not None and known[0]() is obj and args in known[1]:
            return known[1][args]
        answer = compute(obj, *args)
        if known is None or known[0]() is not obj:
            known = _track(answers, obj)
            if known is None:
                return answer
        known[1][args] = answer
        return answer

    setattr(remembered, MARK, True)
    return remembered


def _track(answers: dict[int, Any], obj: Any) -> tuple[weakref.ref[Any], dict[Any, Any]] | None:
    """A new entry for obj, removed when obj is collected (None: obj takes no weak reference)."""
    key = id(obj)

    def forget(dead: weakref.ref[Any]) -> None:
        if answers.get(key, (None,))[0] is dead:
            del answers[key]

    try:
        entry: tuple[weakref.ref[Any], dict[Any, Any]] = (weakref.ref(obj, forget), {})
    except TypeError:
        return None
    answers[key] = entry
    return entry
