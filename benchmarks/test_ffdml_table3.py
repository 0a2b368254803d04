"""FFDML Table 3: Evaluation for global and fusion branches on SYSU-MM01 dataset using different classification los...

Rows and values: golden/ffdml/table3.yaml. One case per printed row (benchmarks/conftest.py).
"""

PAPER, TABLE = "ffdml", 3


def test_row(case, bench):
    bench.check(case)
