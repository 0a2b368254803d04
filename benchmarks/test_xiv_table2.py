"""XIV Table 2: Comparison with cmGAN, D²RL using same backbone on the SYSU-MM01 dataset.

Rows and values: golden/xiv/table2.yaml. One case per printed row (benchmarks/conftest.py).
"""

PAPER, TABLE = "xiv", 2


def test_row(case, bench):
    bench.check(case)
