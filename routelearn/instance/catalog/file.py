"""The model catalog file: the YAML operators edit, parsed and validated with pydantic.

The file is configuration, so it is strict: unknown fields are refused (a misspelt
``typical_latency`` would otherwise be ignored silently), duplicate YAML keys are refused (YAML
itself would keep the last one), and every error names the model and the field, e.g.
``models[3] (claude-haiku).scores.complex: 7.0 is not within 0.0-5.0``. docs/catalog.md
describes the format.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from routelearn.domain.event import (
    MAX_CAPABILITIES,
    Capability,
    Complexity,
    ModelName,
    ProviderName,
)
from routelearn.domain.policy.base import MAX_SCORE, MIN_SCORE
from routelearn.errors import CatalogError

FORMAT_VERSION = 1
# A bound on the list, as on every list routelearn reads: a catalog of 200 models is large.
MAX_MODELS = 10_000


def check_score(value: float) -> float:
    # A score outside the range would break the policies (base.Evidence refuses it) and make
    # one model win or lose every request; NaN would compare false with everything.
    if not (math.isfinite(value) and MIN_SCORE <= value <= MAX_SCORE):
        raise ValueError(f"{value!r} is not within {MIN_SCORE}-{MAX_SCORE}")
    return float(value)


def _check_finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError(f"{value!r} is not a finite number")
    return value


Score = Annotated[float, Field(strict=True), AfterValidator(check_score)]
# strict: YAML's `true` or a quoted "0.5" is a mistake in a number field, not a value to coerce.
Usd = Annotated[float, Field(strict=True, ge=0.0), AfterValidator(_check_finite)]
Version = Annotated[int, Field(strict=True, ge=0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Prices(_Strict):
    """USD per 1,000 tokens; 0 for a local model."""

    input_per_1k: Usd
    output_per_1k: Usd


class Split(_Strict):
    """Send ``percent`` of a complexity's traffic that would go to this model to ``model``."""

    model: ModelName
    percent: Annotated[float, Field(strict=True, gt=0.0, le=100.0)]


class ModelSpec(_Strict):
    """One ``models:`` entry, as written in the file."""

    name: ModelName
    provider: ProviderName
    capabilities: tuple[Capability, ...] = Field(default=(), max_length=MAX_CAPABILITIES)
    scores: dict[Complexity, Score] = Field(default_factory=dict)
    # Written by ModelCatalog.save() only: the central version of each learned score, so a
    # restarted instance does not take an older queued update over a newer persisted score.
    versions: dict[Complexity, Version] = Field(default_factory=dict)
    prices: Prices | None = None
    context_window: Annotated[int, Field(strict=True, gt=0)] | None = None
    typical_latency_ms: Annotated[float, Field(strict=True, gt=0.0)] | None = None
    enabled: Annotated[bool, Field(strict=True)] = True
    splits: dict[Complexity, Split] = Field(default_factory=dict)
    # What a workspace's compliance requirements read (the central registry sends them too).
    tags: tuple[Capability, ...] = Field(default=(), max_length=64)
    regions: tuple[Capability, ...] = Field(default=(), max_length=64)

    @field_validator("capabilities")
    @classmethod
    def _unique_capabilities(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        seen: set[str] = set()
        for capability in value:
            if capability in seen:
                raise ValueError(f"{capability!r} is listed twice")
            seen.add(capability)
        return value


class CatalogFile(_Strict):
    """The whole file.

    Rules that span fields or entries (unique names, split targets, versions without a score)
    are checked here, after every field is valid, and name their location themselves.
    """

    version: Literal[1]
    default_score: Score = 2.5
    models: tuple[ModelSpec, ...] = Field(max_length=MAX_MODELS)

    @model_validator(mode="after")
    def _cross_entry(self) -> CatalogFile:
        problems: list[str] = []
        first: dict[str, int] = {}
        for index, spec in enumerate(self.models):
            if spec.name in first:
                problems.append(
                    f"{_where(index, spec.name)}.name: duplicate of models[{first[spec.name]}]"
                )
            else:
                first[spec.name] = index
        for index, spec in enumerate(self.models):
            where = _where(index, spec.name)
            for complexity in spec.versions:
                if complexity not in spec.scores:
                    problems.append(f"{where}.versions.{complexity}: has no score in scores")
            for complexity, split in spec.splits.items():
                if split.model == spec.name:
                    problems.append(f"{where}.splits.{complexity}.model: is this model itself")
                elif split.model not in first:
                    problems.append(
                        f"{where}.splits.{complexity}.model: "
                        f"{split.model!r} is not a model of this catalog"
                    )
        if problems:
            # One line per problem, each naming its own location; _problems splits them.
            raise ValueError("\n".join(problems))
        return self


def _where(index: int, name: object) -> str:
    return f"models[{index}] ({name})" if isinstance(name, str) else f"models[{index}]"


def _location(loc: tuple[int | str, ...], raw: object) -> str:
    """``('models', 3, 'scores', 'complex')`` -> ``models[3] (claude-haiku).scores.complex``."""
    text = ""
    node: object = raw
    for part in loc:
        if isinstance(part, int):
            name = None
            if isinstance(node, Sequence) and not isinstance(node, str) and part < len(node):
                node = node[part]
                name = node.get("name") if isinstance(node, Mapping) else None
            else:
                node = None
            text += f"[{part}]" + (f" ({name})" if isinstance(name, str) else "")
        else:
            node = node.get(part) if isinstance(node, Mapping) else None
            text += f".{part}" if text else part
    return text


def _problems(error: ValidationError, raw: object) -> list[str]:
    problems = []
    for detail in error.errors(include_url=False):
        kind, loc = detail["type"], detail["loc"]
        message = detail["msg"].removeprefix("Value error, ")
        if not loc:  # CatalogFile._cross_entry: its lines name their locations
            problems.extend(message.splitlines())
            continue
        if loc[-1] == "[key]":  # a mapping key, e.g. scores: {hard: 3.0}
            loc = loc[:-1]
            message = f"{loc[-1]!r} is not one of {', '.join(c.value for c in Complexity)}"
        elif kind == "missing":
            message = "is required"
        elif kind == "extra_forbidden":
            message = "is not a known field"
        elif kind == "literal_error" and loc == ("version",):
            message = (
                f"{detail['input']!r} is not supported (routelearn reads version {FORMAT_VERSION})"
            )
        elif kind in ("tuple_type", "list_type"):
            message = "should be a list"
        elif kind in ("model_type", "dict_type", "model_attributes_type"):
            message = "should be a mapping"
        else:  # pydantic's "Input should be greater than 0" -> "should be greater than 0"
            message = message.removeprefix("Input ")
        problems.append(f"{_location(loc, raw)}: {message}")
    return problems


def parse_catalog(raw: object, source: str = "catalog") -> CatalogFile:
    """Validate an already-parsed document (a mapping, as ``yaml.safe_load`` returns)."""
    if isinstance(raw, CatalogFile):
        return raw
    if raw is None:
        raise CatalogError(f"{source}: is empty")
    if not isinstance(raw, Mapping):
        raise CatalogError(f"{source}: must be a mapping with version, default_score, models")
    try:
        return CatalogFile.model_validate(raw)
    except ValidationError as exc:
        problems = _problems(exc, raw)
        count = f"{len(problems)} error{'s' if len(problems) != 1 else ''}"
        raise CatalogError(f"{source}: {count}", problems) from None


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key written twice in one mapping instead of keeping the last."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: set[object] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, Hashable) and key in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"found duplicate key {key!r}",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_catalog(path: str | os.PathLike[str]) -> CatalogFile:
    """Read and validate a catalog file; every problem is raised as one ``CatalogError``."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"{path}: cannot be read: {exc}") from None
    try:
        raw = yaml.load(
            text, Loader=_UniqueKeyLoader
        )  # a SafeLoader subclass: no arbitrary objects
    except yaml.YAMLError as exc:
        raise CatalogError(f"{path}: is not valid YAML: {exc}") from None
    return parse_catalog(raw, str(path))


def _spec_document(spec: ModelSpec) -> dict[str, Any]:
    # Written field by field, in the documented order, leaving out what is unset or default, so
    # a saved file reads like one an operator wrote.
    doc: dict[str, Any] = {"name": spec.name, "provider": spec.provider}
    doc["capabilities"] = list(spec.capabilities)
    doc["scores"] = {str(c): spec.scores[c] for c in Complexity if c in spec.scores}
    if spec.versions:
        doc["versions"] = {str(c): spec.versions[c] for c in Complexity if c in spec.versions}
    if spec.prices is not None:
        doc["prices"] = spec.prices.model_dump()
    if spec.context_window is not None:
        doc["context_window"] = spec.context_window
    if spec.typical_latency_ms is not None:
        doc["typical_latency_ms"] = spec.typical_latency_ms
    if not spec.enabled:
        doc["enabled"] = False
    if spec.splits:
        doc["splits"] = {
            str(c): spec.splits[c].model_dump() for c in Complexity if c in spec.splits
        }
    return doc


def catalog_document(catalog: CatalogFile) -> dict[str, Any]:
    """The catalog as plain data (what ``dump_catalog`` writes)."""
    return {
        "version": catalog.version,
        "default_score": catalog.default_score,
        "models": [_spec_document(spec) for spec in catalog.models],
    }


_HEADER = (
    "# routelearn model catalog (docs/catalog.md). Written by routelearn: comments are not kept.\n"
)


def dump_catalog(catalog: CatalogFile, path: str | os.PathLike[str]) -> None:
    """Write ``catalog`` as YAML, atomically: readers see the old file or the new, never half."""
    # default_flow_style=None writes lists and mappings of scalars on one line
    # (``scores: {simple: 4.2, ...}``) and everything else as blocks.
    text = _HEADER + yaml.safe_dump(
        catalog_document(catalog), sort_keys=False, default_flow_style=None, allow_unicode=True
    )
    write_atomically(Path(path), text)


def write_atomically(path: Path, text: str) -> None:
    """Write to a temporary file in the same directory, fsync, then ``os.replace`` it.

    Same directory, because ``os.replace`` is atomic only within one file system. The new file
    keeps the old one's permissions (mkstemp creates 0600, which would lock other readers out).
    """
    directory = path.parent
    try:
        mode = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    # Make the rename itself durable: without this a crash can bring the old file back.
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
