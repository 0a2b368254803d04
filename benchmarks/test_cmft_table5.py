"""CMFT Table 5: Comparison of Results with MSRL and MDL on HITSZ-VCM dataset.

Rows and values: golden/cmft/table5.yaml. One case per printed row (benchmarks/conftest.py).
"""

PAPER, TABLE = "cmft", 5


def test_row(case, bench):
    bench.check(case)
