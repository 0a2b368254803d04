"""CMFT Table 1: Evaluation of different person detectors on HITSZ-VCM (Visible part) dataset.

Rows and values: golden/cmft/table1.yaml. One case per printed row (benchmarks/conftest.py).
"""

PAPER, TABLE = "cmft", 1


def test_row(case, bench):
    bench.check(case)
