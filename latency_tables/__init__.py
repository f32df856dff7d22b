"""The shipped latency tables, installed as the package data ``nas.latency_tables`` (see setup.py)."""
