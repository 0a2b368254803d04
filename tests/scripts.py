"""Load a script of ``benchmarks/perf/`` as a module, so tests call its functions without a subprocess."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

PERF = Path(__file__).resolve().parent.parent / "benchmarks" / "perf"


def load_perf_script(name: str) -> ModuleType:
    """``benchmarks/perf/<name>.py``, executed as module ``name``."""
    path = PERF / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    # Registered before running so its dataclasses can resolve their module.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
