"""XIV Table 1: Comparison results (%) with the state-of-the-art IV-ReID methods on RegDB and SYSU-MM01 datasets.

Rows and values: golden/xiv/table1.yaml. One case per printed row (benchmarks/conftest.py).
"""

PAPER, TABLE = "xiv", 1


def test_row(case, bench):
    bench.check(case)
