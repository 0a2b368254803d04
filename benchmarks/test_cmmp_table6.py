"""CMMP Table 6: Comparison with SOTA methods on SYSU-MM01Wu et al. (2017). Best results are marked in bold.

Rows and values: golden/cmmp/table6.yaml. One case per printed row (benchmarks/conftest.py).
"""

PAPER, TABLE = "cmmp", 6


def test_row(case, bench):
    bench.check(case)
