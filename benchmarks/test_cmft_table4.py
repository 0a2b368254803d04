"""CMFT Table 4: Effect of different cross-modality loss functions on HITSZ-VCM dataset.

Rows and values: golden/cmft/table4.yaml. One case per printed row (benchmarks/conftest.py).
"""

PAPER, TABLE = "cmft", 4


def test_row(case, bench):
    bench.check(case)
