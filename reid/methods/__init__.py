"""Built-in methods; importing this package registers each of them (reid.registry)."""
