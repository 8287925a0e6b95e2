"""Helpers shared by several test levels (importable as `support.*`: tests/ is on sys.path via its conftest)."""
