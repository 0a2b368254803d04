"""CMFT Table 8: Performance comparison with different SOTA reID models on RegDB dataset

Rows and values: golden/cmft/table8.yaml. One case per printed row (benchmarks/conftest.py).
"""

PAPER, TABLE = "cmft", 8


def test_row(case, bench):
    bench.check(case)
