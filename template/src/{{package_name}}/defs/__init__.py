"""Definitions autoloaded by ``dg``: one small module per concern."""
