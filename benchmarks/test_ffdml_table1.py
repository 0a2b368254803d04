"""FFDML Table 1: Evaluate our methods under All-search mode on SYSU-MM01 dataset

Rows and values: golden/ffdml/table1.yaml. One case per printed row (benchmarks/conftest.py).
"""

PAPER, TABLE = "ffdml", 1


def test_row(case, bench):
    bench.check(case)
