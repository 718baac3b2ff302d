"""The published contract files (``contracts/``), wherever the package is installed.

``dutywatch/_contracts`` is a symbolic link to the repository's ``contracts/`` folder; a wheel
built from the repository carries the files themselves there (pyproject.toml package data), so
an editable and a normal install read the same documents.
"""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

import yaml


def contract_file(name: str) -> Traversable:
    return resources.files("dutywatch").joinpath("_contracts", name)


def openapi_document() -> dict[str, Any]:
    """``contracts/openapi.yaml`` as a JSON-able value."""
    document = yaml.safe_load(contract_file("openapi.yaml").read_text(encoding="utf-8"))
    if not isinstance(document, dict):
        raise TypeError("contracts/openapi.yaml is not a mapping")
    return document
