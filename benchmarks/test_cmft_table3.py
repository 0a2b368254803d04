"""CMFT Table 3: Comparison of multi-scale fusion levels for the dual-stream feature extractor on HITSZ-VCM dataset

Rows and values: golden/cmft/table3.yaml. One case per printed row (benchmarks/conftest.py).
"""

PAPER, TABLE = "cmft", 3


def test_row(case, bench):
    bench.check(case)
