"""XIV Table 5: Performance of special cases of 'X' using ResNet-50 model on the SYSU-MM01 dataset.

Rows and values: golden/xiv/table5.yaml. One case per printed row (benchmarks/conftest.py).
"""

PAPER, TABLE = "xiv", 5


def test_row(case, bench):
    bench.check(case)
