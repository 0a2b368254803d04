"""MSCMNET Table 3: COMPARISON WITH THE STATE-OF-THE-ARTS ON LLCM DATASET. RANK-R ACCURACY (%) AND MAP(%)

Rows and values: golden/mscmnet/table3.yaml. One case per printed row (benchmarks/conftest.py).
"""

PAPER, TABLE = "mscmnet", 3


def test_row(case, bench):
    bench.check(case)
