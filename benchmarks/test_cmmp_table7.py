"""CMMP Table 7: Comparison with SOTA methods on RegDBNguyen et al. (2017). Best results are marked in bold.

Rows and values: golden/cmmp/table7.yaml. One case per printed row (benchmarks/conftest.py).
"""

PAPER, TABLE = "cmmp", 7


def test_row(case, bench):
    bench.check(case)
