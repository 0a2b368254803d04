"""The benchmark harness: golden table rows as cases, their runs, verdicts and recorded results.

:mod:`~reid.harness.cases` turns a row into trainings and evaluations, :mod:`~reid.harness.execute`
runs them through the engine (cached by config fingerprint), :mod:`~reid.harness.compare` gives a
verdict per cell, :mod:`~reid.harness.reproduce` does all of it for one case and writes its
:mod:`~reid.harness.result`; :mod:`~reid.harness.smoke_golden` holds the smoke recordings; :mod:`~reid.harness.figures`
runs a figure sweep's points the same way and judges the optima its text states.
``benchmarks/`` wraps each table in a pytest module; ``reid reproduce`` runs them and renders the report.
"""
