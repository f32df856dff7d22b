"""Packaging beyond what ``pyproject.toml`` can say: the shipped search spaces and latency tables.

They live at the top of the repository (``search_spaces/``, ``latency_tables/``), where users look
for them, and install as the packages ``nas.search_spaces`` and ``nas.latency_tables``, so that a
wheel carries them and the code finds them through ``importlib.resources`` from a checkout
(editable install) and from an installed wheel alike. One copy of each file, mapped, not copied.
"""

from setuptools import find_packages, setup

SHIPPED_DATA = {"nas.search_spaces": "search_spaces", "nas.latency_tables": "latency_tables"}

setup(
    packages=[*find_packages(include=["nas", "nas.*"]), *SHIPPED_DATA],
    package_dir=SHIPPED_DATA,
    package_data={"nas.search_spaces": ["*.yaml"],
                  "nas.latency_tables": ["*.json", "hosts/*/*.json"]},
)
