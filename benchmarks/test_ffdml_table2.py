"""FFDML Table 2: Ablation experimental of feature fusion at different layers.

Rows and values: golden/ffdml/table2.yaml. One case per printed row (benchmarks/conftest.py).
"""

PAPER, TABLE = "ffdml", 2


def test_row(case, bench):
    bench.check(case)
