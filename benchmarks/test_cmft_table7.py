"""CMFT Table 7: Performance comparison with different SOTA reID models on SYSU-MM01 dataset

Rows and values: golden/cmft/table7.yaml. One case per printed row (benchmarks/conftest.py).
"""

PAPER, TABLE = "cmft", 7


def test_row(case, bench):
    bench.check(case)
