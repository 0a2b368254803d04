"""CMMP Table 2: The impact of different mask ratios on the final results at mask size of 16 x 16. Best results ar...

Rows and values: golden/cmmp/table2.yaml. One case per printed row (benchmarks/conftest.py).
"""

PAPER, TABLE = "cmmp", 2


def test_row(case, bench):
    bench.check(case)
