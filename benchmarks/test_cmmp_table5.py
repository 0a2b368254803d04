"""CMMP Table 5: The impact of different pre-training epochs on the final results. Best results are marked in bold.

Rows and values: golden/cmmp/table5.yaml. One case per printed row (benchmarks/conftest.py).
"""

PAPER, TABLE = "cmmp", 5


def test_row(case, bench):
    bench.check(case)
