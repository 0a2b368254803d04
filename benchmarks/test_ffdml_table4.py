"""FFDML Table 4: Evaluation the application of Deep Mutual Learning across different branches. None means not usin...

Rows and values: golden/ffdml/table4.yaml. One case per printed row (benchmarks/conftest.py).
"""

PAPER, TABLE = "ffdml", 4


def test_row(case, bench):
    bench.check(case)
