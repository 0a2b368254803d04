"""CMFT Table 6: Performance comparison with different SOTA reID models on HITSZ-VCM dataset.

Rows and values: golden/cmft/table6.yaml. One case per printed row (benchmarks/conftest.py).
"""

PAPER, TABLE = "cmft", 6


def test_row(case, bench):
    bench.check(case)
