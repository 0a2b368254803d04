"""CMFT Table 2: Evaluation of cross-modality fusion techniques for the dual-stream feature extractor on HITSZ-VCM...

Rows and values: golden/cmft/table2.yaml. One case per printed row (benchmarks/conftest.py).
"""

PAPER, TABLE = "cmft", 2


def test_row(case, bench):
    bench.check(case)
