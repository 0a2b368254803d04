"""FFDML Table 5: Comparison with other advanced methods under Visible-Thermal mode on RegDB dataset.

Rows and values: golden/ffdml/table5.yaml. One case per printed row (benchmarks/conftest.py).
"""

PAPER, TABLE = "ffdml", 5


def test_row(case, bench):
    bench.check(case)
