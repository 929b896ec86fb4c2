"""Example assets: each integration pattern as small, working code."""
