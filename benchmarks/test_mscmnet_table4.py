"""MSCMNET Table 4: ABLATION STUDY OF QFE, MIMB, QCT ON THE ALL-SEARCH MODE OF SYSU-MM01 DATASET. RANK-R ACCURACY(%)...

Rows and values: golden/mscmnet/table4.yaml. One case per printed row (benchmarks/conftest.py).
"""

PAPER, TABLE = "mscmnet", 4


def test_row(case, bench):
    bench.check(case)
