"""Beam's DoFn state/timer specs and options views, remembered per object: the same answers as
Beam's own, asked once per object, nothing kept alive, and a stateful pipeline gives the same
output."""

from __future__ import annotations

import gc
import weakref
from typing import Any

import apache_beam as beam
import pytest
from apache_beam.coders import VarIntCoder
from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions
from apache_beam.transforms import userstate
from apache_beam.transforms.timeutil import TimeDomain

from pipeline.run.beam_introspection import answer_once_per_object, dofn_specs_remembered, per_object

BEAM_SPECS = userstate.get_dofn_specs
BEAM_VIEW_AS = PipelineOptions.view_as


class Plain(beam.DoFn):
    def process(self, element: int) -> Any:
        yield element


class Stateful(beam.DoFn):
    """Sums values per key in a bag, emitted by an event-time timer at the end of the window."""

    BAG = userstate.BagStateSpec("bag", VarIntCoder())
    FLUSH = userstate.TimerSpec("flush", TimeDomain.WATERMARK)

    def process(self, element: tuple[str, int], bag: Any = beam.DoFn.StateParam(BAG),  # noqa: B008 (Beam's API)
                flush: Any = beam.DoFn.TimerParam(FLUSH),  # noqa: B008
                window: Any = beam.DoFn.WindowParam) -> Any:
        bag.add(element[1])
        flush.set(window.end)

    @userstate.on_timer(FLUSH)
    def emit(self, key: Any = beam.DoFn.KeyParam,
             bag: Any = beam.DoFn.StateParam(BAG)) -> Any:  # noqa: B008
        yield key, sum(bag.read())


class DuplicateParams(beam.DoFn):
    def process(self, element: int, a: Any = beam.DoFn.KeyParam,
                b: Any = beam.DoFn.KeyParam) -> Any:
        yield element


class Slotted:
    """An object without weak references (no __weakref__ slot)."""

    __slots__ = ()


class Counting:
    """Beam's function (or another), counting the calls that reach it."""

    def __init__(self, inspect_specs: Any = BEAM_SPECS) -> None:
        self.calls = 0
        self.inspect_specs = inspect_specs

    def __call__(self, dofn: Any) -> tuple[set[Any], set[Any]]:
        self.calls += 1
        return self.inspect_specs(dofn)


def _names(specs: tuple[set[Any], set[Any]]) -> tuple[list[str], list[str]]:
    return sorted(s.name for s in specs[0]), sorted(s.name for s in specs[1])


@pytest.mark.parametrize("dofn_class", [Plain, Stateful])
def test_the_answer_is_beams_and_asked_once_per_object(dofn_class: type) -> None:
    counting = Counting()
    specs = dofn_specs_remembered(counting)
    dofn, other = dofn_class(), dofn_class()
    first = specs(dofn)
    assert _names(first) == _names(BEAM_SPECS(dofn))
    first[0].clear()  # a caller's copy: the next caller still gets the full answer
    assert _names(specs(dofn)) == _names(BEAM_SPECS(dofn))
    assert counting.calls == 1
    assert _names(specs(other)) == _names(BEAM_SPECS(other))
    assert counting.calls == 2


def test_a_collected_dofn_is_not_kept_alive() -> None:
    counting = Counting()
    specs = dofn_specs_remembered(counting)
    dofn = Stateful()
    specs(dofn)
    alive = weakref.ref(dofn)
    del dofn
    gc.collect()
    assert alive() is None


def test_errors_and_objects_without_weak_references_are_answered_afresh() -> None:
    counting = Counting()
    specs = dofn_specs_remembered(counting)
    for _ in range(2):
        with pytest.raises(ValueError, match="duplicate"):
            specs(DuplicateParams())
    assert counting.calls == 2

    no_specs = Counting(lambda _: (set(), set()))
    specs = dofn_specs_remembered(no_specs)
    slotted = Slotted()
    with pytest.raises(TypeError):
        weakref.ref(slotted)
    assert specs(slotted) == specs(slotted) == (set(), set())
    assert no_specs.calls == 2


@pytest.mark.slow
def test_a_stateful_pipeline_gives_the_same_output(monkeypatch: pytest.MonkeyPatch) -> None:
    from apache_beam.testing.util import assert_that, equal_to

    def run() -> None:
        with beam.Pipeline(argv=["--direct_running_mode=in_memory"]) as pipeline:
            sums = (pipeline | beam.Create([("a", 1), ("b", 2), ("a", 3)])
                    | beam.ParDo(Stateful()))
            assert_that(sums, equal_to([("a", 4), ("b", 2)]))

    run()
    monkeypatch.setattr(userstate, "get_dofn_specs", BEAM_SPECS)
    monkeypatch.setattr(PipelineOptions, "view_as", BEAM_VIEW_AS)
    answer_once_per_object()
    installed = userstate.get_dofn_specs, PipelineOptions.view_as
    answer_once_per_object()
    assert (userstate.get_dofn_specs, PipelineOptions.view_as) == installed
    assert installed[0] is not BEAM_SPECS and installed[1] is not BEAM_VIEW_AS
    run()


def test_options_views_are_beams_once_per_options_object() -> None:
    calls: list[type] = []

    def counting_view_as(options: PipelineOptions, cls: type) -> PipelineOptions:
        calls.append(cls)
        return BEAM_VIEW_AS(options, cls)

    view_as = per_object(counting_view_as)
    flags = ["--runner=DirectRunner", "--direct_num_workers=2", "--direct_running_mode=in_memory"]
    options, beams = PipelineOptions(flags), PipelineOptions(flags)
    direct = view_as(options, DirectOptions)
    assert view_as(options, DirectOptions) is direct
    assert calls == [DirectOptions]
    assert direct.get_all_options() == BEAM_VIEW_AS(beams, DirectOptions).get_all_options()
    standard = view_as(options, StandardOptions)
    assert standard.runner == "DirectRunner" and calls == [DirectOptions, StandardOptions]
    # Views share the options' values, as Beam's do: a change through one is seen by the others.
    view_as(options, DirectOptions).direct_num_workers = 5
    assert options.view_as(DirectOptions).direct_num_workers == 5
    assert view_as(PipelineOptions(flags), DirectOptions).direct_num_workers == 2
