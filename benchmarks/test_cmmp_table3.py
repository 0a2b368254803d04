"""CMMP Table 3: The impact of different prediction targets on the final results. Best results are marked in bold.

Rows and values: golden/cmmp/table3.yaml. One case per printed row (benchmarks/conftest.py).
"""

PAPER, TABLE = "cmmp", 3


def test_row(case, bench):
    bench.check(case)
