"""Methods; importing this package imports every module in it, which registers each method it defines
(:mod:`reid.methods.registry`). Adding a method is one file here (plus its paper's rows in golden/)."""

import importlib
import pkgutil

from reid.methods.registry import create_method, list_methods, method_class, register_method

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    importlib.import_module(f"{__name__}.{_module}")

__all__ = ["create_method", "list_methods", "method_class", "register_method"]
