"""MSCMNET Table 2: COMPARISON WITH THE STATE-OF-THE-ARTS ON REGDB DATASET. RANK-R ACCURACY (%) AND MAP(%)

Rows and values: golden/mscmnet/table2.yaml. One case per printed row (benchmarks/conftest.py).
"""

PAPER, TABLE = "mscmnet", 2


def test_row(case, bench):
    bench.check(case)
