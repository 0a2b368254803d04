"""MSCMNET Table 1: Comparison With The State-Of-The-Arts On SYSU-MM01 Dataset. Rank-k Accuracy (%) and MAP (%) Are R...

Rows and values: golden/mscmnet/table1.yaml. One case per printed row (benchmarks/conftest.py).
"""

PAPER, TABLE = "mscmnet", 1


def test_row(case, bench):
    bench.check(case)
