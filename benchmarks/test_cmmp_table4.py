"""CMMP Table 4: The impact of different prediction areas on the final results. Best results are marked in bold.

Rows and values: golden/cmmp/table4.yaml. One case per printed row (benchmarks/conftest.py).
"""

PAPER, TABLE = "cmmp", 4


def test_row(case, bench):
    bench.check(case)
