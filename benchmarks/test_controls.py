"""Broken controls: for every method, its CI smoke config broken on purpose must FAIL the smoke verdict.

A case passes only when the broken run fails what its CI row must pass (the sanity bound, or the band of
the row's recorded seeds), which shows that the smoke verdict can fail: a method whose labels no longer
match its images, or whose metric-learning terms push the wrong way, does not pass as working
(reid/harness/controls.py). Part of the CI selection.
"""

import pytest

from reid.harness.controls import CONTROLS
from reid.registry import list_methods, method_class

METHODS = [name for name in list_methods() if method_class(name).evaluates]
"""Every registered method that is evaluated (``cmmp_pretrain``, a stage of ``cmmp``, is not)."""


@pytest.mark.parametrize("control", sorted(CONTROLS))
@pytest.mark.parametrize("method", [pytest.param(m, marks=pytest.mark.xdist_group(m)) for m in METHODS])
def test_broken_control_fails_the_smoke_verdict(method, control, bench):
    bench.check_control(method, control)
