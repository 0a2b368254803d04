"""CMMP Table 1: The impact of different mask sizes on the final results at mask ratios of 0.75 and 0.8. Best resu...

Rows and values: golden/cmmp/table1.yaml. One case per printed row (benchmarks/conftest.py).
"""

PAPER, TABLE = "cmmp", 1


def test_row(case, bench):
    bench.check(case)
