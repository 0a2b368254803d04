"""FFDML Table 6: Comparison with other advanced methods under All-search and Indoor-searchmodes on SYSU-MM01 dataset

Rows and values: golden/ffdml/table6.yaml. One case per printed row (benchmarks/conftest.py).
"""

PAPER, TABLE = "ffdml", 6


def test_row(case, bench):
    bench.check(case)
