"""The published contract files (``contracts/``), wherever the package is installed.

``dutywatch/_contracts`` is a symbolic link to the repository's ``contracts/`` folder; a wheel
built from the repository carries the files themselves there (pyproject.toml package data), so
an editable and a normal install read the same documents.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

import yaml


def contract_file(name: str) -> Traversable:
    return resources.files("dutywatch").joinpath("_contracts", name)


#: libyaml's safe loader (shipped in PyYAML's wheels) reads the document in a tenth of the
#: pure-Python loader's second; the same safe subset of YAML either way.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def openapi_document() -> dict[str, Any]:
    """``contracts/openapi.yaml`` as a JSON-able value."""
    text = contract_file("openapi.yaml").read_text(encoding="utf-8")
    document = yaml.load(text, Loader=_SAFE_LOADER)  # noqa: S506 - a safe loader
    if not isinstance(document, dict):
        raise TypeError("contracts/openapi.yaml is not a mapping")
    return document


@functools.cache
def openapi_json() -> bytes:
    """:func:`openapi_document` as JSON, converted once per process (every app made in it,
    a test run's hundreds included, serves the same package file)."""
    return json.dumps(openapi_document(), ensure_ascii=False).encode()
