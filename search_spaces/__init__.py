"""The shipped search spaces, installed as the package data ``nas.search_spaces`` (see setup.py)."""
