"""Built-in methods; importing this package registers each of them (reid.registry)."""

from reid.methods import agw, caj, cmmp, xiv  # noqa: F401  (imported for their @register_method)
