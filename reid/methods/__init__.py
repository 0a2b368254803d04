"""Built-in methods; importing this package registers each of them (:mod:`reid.methods.registry`)."""

from reid.methods import agw, caj, cmmp, xiv  # noqa: F401  (imported for their @register_method)
from reid.methods.registry import create_method, list_methods, method_class, register_method

__all__ = ["create_method", "list_methods", "method_class", "register_method"]
