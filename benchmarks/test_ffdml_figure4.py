"""FFDML Figure 4: the effect of theta1 (panel a, theta2 = 1.0) and theta2 (panel b, theta1 = 0.6) on SYSU-MM01
all-search, a sweep.

Panels and values: golden/ffdml/figure4.yaml. One case per point (benchmarks/conftest.py): every value in the paper
profile, the panel's smoke_values in smoke; never in the CI selection. The text's stated optima are judged by the
report (paper profile), not asserted here.
"""

PAPER, FIGURE = "ffdml", 4


def test_point(point, bench):
    bench.check_point(point)
