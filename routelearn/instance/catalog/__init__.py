"""The model catalog: the YAML file operators edit (``file``) and the thread-safe in-memory
catalog an instance routes from and applies the fleet's score updates to (``model``)."""

from __future__ import annotations

from routelearn.errors import CatalogError
from routelearn.instance.catalog.file import (
    FORMAT_VERSION,
    CatalogFile,
    ModelSpec,
    Prices,
    Split,
    dump_catalog,
    load_catalog,
    parse_catalog,
)
from routelearn.instance.catalog.model import UNKNOWN_PROVIDER, Candidate, ModelCatalog, ModelEntry
from routelearn.instance.catalog.policy import PolicyBook

__all__ = [
    "FORMAT_VERSION",
    "UNKNOWN_PROVIDER",
    "Candidate",
    "CatalogError",
    "CatalogFile",
    "ModelCatalog",
    "ModelEntry",
    "ModelSpec",
    "PolicyBook",
    "Prices",
    "Split",
    "dump_catalog",
    "load_catalog",
    "parse_catalog",
]
