"""XIV Table 4: Ablation study on the SYSU-MM01 dataset.

Rows and values: golden/xiv/table4.yaml. One case per printed row (benchmarks/conftest.py).
"""

PAPER, TABLE = "xiv", 4


def test_row(case, bench):
    bench.check(case)
