"""HTML reproduction reports: golden tables beside our results, the claims audit, the runs behind them.

:mod:`~reid.report.model` joins golden files, case results and run records; :mod:`~reid.report.render`
writes static HTML through the templates in ``templates/``; :mod:`~reid.report.svg` draws the pictures (CMC, per table);
:mod:`~reid.report.export` writes every cell's verdict as ``verdicts.csv`` and ``verdicts.json``.
"""

from reid.report.render import render_report, render_results

__all__ = ["render_report", "render_results"]
