"""XIV Table 3: Comparison with AlignGAN using same backbone on the SYSU-MM01 dataset.

Rows and values: golden/xiv/table3.yaml. One case per printed row (benchmarks/conftest.py).
"""

PAPER, TABLE = "xiv", 3


def test_row(case, bench):
    bench.check(case)
