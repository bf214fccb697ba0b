"""The thread-safe in-memory model catalog an application instance holds.

Two kinds of threads use it. A router reads it on every request (``candidates``, ``score``,
``entry``); a subscriber writes to it when the central service publishes a score update
(``apply_update``, ``apply_snapshot``). Reads outnumber writes by many orders of magnitude, so
the catalog is copy-on-write: every piece of state lives in one immutable ``_State`` object,
a writer builds a new ``_State`` under a lock and swaps the reference, and a reader takes no lock
at all: it reads ``self._state`` once (a single reference read, atomic in CPython with or without
the GIL) and works on that object, which nothing ever mutates. A reader therefore always sees one
consistent version of the catalog, never half an update, and a router never waits for a
subscriber. The lock only keeps two writers from losing each other's updates. The rankings that
``candidates`` returns are sorted once per write, not once per request.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from routelearn.domain.event import Complexity, ModelName
from routelearn.domain.registry import InvalidRegistryChange, RegistryChange
from routelearn.errors import CatalogError
from routelearn.instance.catalog.estimates import EstimateBook
from routelearn.instance.catalog.file import (
    CatalogFile,
    ModelSpec,
    Prices,
    Score,
    Split,
    Version,
    check_score,
    dump_catalog,
    load_catalog,
    parse_catalog,
)
from routelearn.instance.catalog.policy import PolicyBook

UNKNOWN_PROVIDER = "unknown"
_COMPLEXITIES = tuple(Complexity)


@dataclass(frozen=True, slots=True)
class ModelEntry:
    """One model as an instance sees it: the operator's fields plus the current scores.

    ``scores`` and ``versions`` hold every complexity (a complexity the file leaves out has
    ``default_score`` at version 0). ``learned`` marks a model that was not in the file and was
    added because the fleet published a score for it.
    """

    name: str
    provider: str
    capabilities: frozenset[str] = frozenset()
    scores: Mapping[Complexity, float] = field(default_factory=dict, hash=False)
    versions: Mapping[Complexity, int] = field(default_factory=dict, hash=False)
    prices: Prices | None = None
    context_window: int | None = None
    typical_latency_ms: float | None = None
    enabled: bool = True
    splits: Mapping[Complexity, Split] = field(default_factory=dict, hash=False)
    learned: bool = False
    # The central registry's status and the version it was sent at (0: none received yet).
    status: str = "active"
    registry_version: int = 0
    # From the registry too: what a workspace's compliance requirements read.
    tags: frozenset[str] = frozenset()
    regions: frozenset[str] = frozenset()

    def score(self, complexity: Complexity | str) -> float:
        return self.scores[Complexity(complexity)]

    def version(self, complexity: Complexity | str) -> int:
        return self.versions[Complexity(complexity)]


Candidate = tuple[ModelEntry, float]


@dataclass(frozen=True, slots=True)
class _State:
    """One immutable version of the whole catalog; replaced, never modified."""

    entries: Mapping[str, ModelEntry]  # in file order, learned models last
    # Enabled models, best first. Keyed by str: a Complexity is a str and hashes as its value,
    # so a caller's "complex" finds the entry without a Complexity(...) call per request.
    ranked: Mapping[str, tuple[Candidate, ...]]
    # Complexities given a score by the file or by the fleet (the others hold default_score):
    # save() writes these only, so a later change of default_score still applies to the rest.
    explicit: Mapping[str, frozenset[Complexity]]


class _SnapshotScore(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    score: Score
    version: Version


class _Snapshot(BaseModel):
    """What ``snapshot()`` returns and ``apply_snapshot()`` accepts (it comes off the network)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    models: dict[ModelName, dict[Complexity, _SnapshotScore]] = Field(max_length=100_000)
    default_score: Annotated[float, Field(strict=True)] | None = None
    # The central registry: each model's RegistryChange message at its current version.
    registry: list[dict[str, Any]] = Field(default_factory=list, max_length=100_000)


def _rank(entries: Iterable[ModelEntry], complexity: Complexity) -> tuple[Candidate, ...]:
    # Ties go to the name, so two instances with the same scores make the same choice.
    ranked = [(entry, entry.scores[complexity]) for entry in entries if entry.enabled]
    ranked.sort(key=lambda pair: (-pair[1], pair[0].name))
    return tuple(ranked)


def _check_version(version: int) -> int:
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise ValueError(f"version must be an int >= 0, got {version!r}")
    return version


class ModelCatalog:
    """Scores per (model, complexity) with the operator's model metadata; see the module doc.

    ``enable_unknown`` decides whether a model added by an update (not in the file) may be
    chosen: off by default, because an instance cannot call a model its operator never
    configured; its scores are kept either way, and saved.
    """

    def __init__(self, config: CatalogFile, *, enable_unknown: bool = False) -> None:
        self._config = config
        self._enable_unknown = enable_unknown
        self._lock = threading.Lock()
        # The central routing policy (rules, agent preferences, workspace configs), kept by
        # the subscriber beside the scores and registry, read by the router.
        self.policy = PolicyBook()
        self.estimates = EstimateBook()
        # Serialises save(): a save that read an older state must not replace a newer file.
        self._save_lock = threading.Lock()
        self._specs = {spec.name: spec for spec in config.models}
        # The newest registry change per model: reload() applies them again to the new file.
        self._registry: dict[str, RegistryChange] = {}
        entries: dict[str, ModelEntry] = {}
        explicit: dict[str, frozenset[Complexity]] = {}
        for spec in config.models:
            entries[spec.name] = self._entry_from_spec(spec)
            explicit[spec.name] = frozenset(spec.scores)
        self._state = self._build(entries, explicit)

    @classmethod
    def from_file(
        cls, path: str | os.PathLike[str], *, enable_unknown: bool = False
    ) -> ModelCatalog:
        return cls(load_catalog(path), enable_unknown=enable_unknown)

    @classmethod
    def from_config(
        cls, config: CatalogFile | Mapping[str, Any], *, enable_unknown: bool = False
    ) -> ModelCatalog:
        """From a ``CatalogFile`` or the same data as a plain mapping (validated)."""
        return cls(parse_catalog(config), enable_unknown=enable_unknown)

    # -- reads: no lock; each reads self._state once ------------------------------------

    @property
    def default_score(self) -> float:
        return self._config.default_score

    def __len__(self) -> int:
        return len(self._state.entries)

    def __contains__(self, model: object) -> bool:
        return model in self._state.entries

    def entry(self, model: str) -> ModelEntry | None:
        return self._state.entries.get(model)

    def models(self) -> list[ModelEntry]:
        return list(self._state.entries.values())

    def score(self, model: str, complexity: Complexity | str) -> float:
        """The current score; ``default_score`` for a model the catalog does not know."""
        entry = self._state.entries.get(model)
        if entry is None:
            Complexity(complexity)  # still refuse a misspelt complexity
            return self._config.default_score
        return entry.score(complexity)

    def version(self, model: str, complexity: Complexity | str) -> int | None:
        """The version of the score held, or None for a model the catalog does not know."""
        entry = self._state.entries.get(model)
        return None if entry is None else entry.version(complexity)

    def candidates(
        self, complexity: Complexity | str, capabilities: Iterable[str] = ()
    ) -> list[Candidate]:
        """Enabled models having every capability in ``capabilities``, best score first."""
        ranked = self._state.ranked.get(complexity)
        if ranked is None:
            raise ValueError(f"{complexity!r} is not one of {', '.join(_COMPLEXITIES)}")
        required = frozenset(capabilities)
        if not required:
            return list(ranked)
        return [pair for pair in ranked if required <= pair[0].capabilities]

    def snapshot(self) -> dict[str, Any]:
        """Every model's scores and versions, as JSON-ready data (``apply_snapshot``'s input)::

        {"default_score": 2.5,
         "models": {"gpt-4o": {"simple": {"score": 4.2, "version": 0}, ...}, ...}}
        """
        state = self._state
        return {
            "default_score": self._config.default_score,
            "models": {
                name: {
                    c.value: {"score": entry.scores[c], "version": entry.versions[c]}
                    for c in _COMPLEXITIES
                }
                for name, entry in state.entries.items()
            },
        }

    # -- writes: under the lock, build a new _State and swap it in -----------------------

    def apply_update(
        self, model: str, complexity: Complexity | str, new_score: float, version: int
    ) -> bool:
        """Apply one published score if ``version`` is newer than the one held for
        (model, complexity); return whether it was applied. Updates arrive at least once and
        not necessarily in order, so an equal or older version is a duplicate or a straggler.
        """
        complexity = Complexity(complexity)
        new_score = check_score(new_score)
        _check_version(version)
        with self._lock:
            state = self._state
            entry = state.entries.get(model)
            if entry is not None and version <= entry.versions[complexity]:
                return False
            updated = self._with_score(entry, model, complexity, new_score, version)
            entries = {**state.entries, model: updated}
            ranked = dict(state.ranked)
            if updated.enabled:
                # Only this complexity's order can change; a new model appears in every one.
                changed = _COMPLEXITIES if entry is None else (complexity,)
                for c in changed:
                    ranked[c] = _rank(entries.values(), c)
            explicit = {
                **state.explicit,
                model: state.explicit.get(model, frozenset()) | {complexity},
            }
            self._state = _State(
                MappingProxyType(entries), MappingProxyType(ranked), MappingProxyType(explicit)
            )
            return True

    def apply_registry(self, change: RegistryChange) -> bool:
        """Apply one model's central registry entry if its version is newer than the one held;
        return whether it was applied.

        A model may be chosen only while the registry says ``active``; the local file can
        still veto it (``enabled: false``), and a model the file does not list is enabled
        only with ``enable_unknown`` (an instance cannot call a model its operator never
        configured). Provider, capabilities, prices, context window and typical latency come
        from the registry. A removed model stays, disabled, so an older change arriving late
        cannot bring it back.
        """
        _check_version(change.version)
        with self._lock:
            entries = dict(self._state.entries)
            if not self._take_registry(entries, change):
                return False
            self._state = self._build(entries, self._state.explicit)
            return True

    def apply_snapshot(self, snapshot: Mapping[str, Any]) -> int:
        """Apply a full snapshot from the central service: per (model, complexity), only a
        newer version than the one held; the same for each model's registry entry. Returns how
        many scores and registry entries changed. The snapshot's ``default_score``, if any, is
        ignored: the local file's setting stays in force."""
        try:
            parsed = _Snapshot.model_validate(snapshot)
            changes = [RegistryChange.from_message(item) for item in parsed.registry]
        except (ValidationError, InvalidRegistryChange) as exc:
            raise CatalogError(f"invalid score snapshot: {exc}") from None
        applied = 0
        with self._lock:
            state = self._state
            entries = dict(state.entries)
            explicit = dict(state.explicit)
            for change in changes:
                if self._take_registry(entries, change):
                    applied += 1
            for model, scores in parsed.models.items():
                for complexity, item in scores.items():
                    entry = entries.get(model)
                    if entry is not None and item.version <= entry.versions[complexity]:
                        continue
                    entries[model] = self._with_score(
                        entry, model, complexity, item.score, item.version
                    )
                    explicit[model] = explicit.get(model, frozenset()) | {complexity}
                    applied += 1
            if applied:
                self._state = self._build(entries, explicit)
        return applied

    def reload(self, config: CatalogFile | Mapping[str, Any]) -> None:
        """Take an edited catalog (a model added, disabled, repriced...) while running. Every
        operator field comes from the new file; a score the fleet published with a newer
        version than the file's is kept; a model the file no longer lists is kept only if the
        fleet has published a score for it (as a learned model), else dropped."""
        config = parse_catalog(config)
        with self._lock:
            state = self._state
            self._config = config
            self._specs = {spec.name: spec for spec in config.models}
            entries: dict[str, ModelEntry] = {}
            explicit: dict[str, frozenset[Complexity]] = {}
            for spec in config.models:
                entry = self._entry_from_spec(spec)
                kept = set(spec.scores)
                held = state.entries.get(spec.name)
                for c in _COMPLEXITIES:
                    if held is not None and held.versions[c] > entry.versions[c]:
                        entry = replace(
                            entry,
                            scores=MappingProxyType({**entry.scores, c: held.scores[c]}),
                            versions=MappingProxyType({**entry.versions, c: held.versions[c]}),
                        )
                        kept.add(c)
                entries[spec.name] = entry
                explicit[spec.name] = frozenset(kept)
            for name, held in state.entries.items():
                if name in entries or not any(held.versions.values()):
                    continue
                entries[name] = replace(
                    held,
                    provider=held.provider if held.learned else UNKNOWN_PROVIDER,
                    enabled=self._enable_unknown,
                    learned=True,
                    registry_version=0,
                )
                explicit[name] = state.explicit.get(name, frozenset())
            for change in self._registry.values():
                self._take_registry(entries, change, force=True)
            self._state = self._build(entries, explicit)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the current scores back in the file format, atomically, keeping every
        operator-edited field. Comments are not kept: save to a file of its own rather than
        over the commented file an operator edits (docs/catalog.md)."""
        with self._save_lock:
            dump_catalog(self.to_config(), Path(path))

    def to_config(self) -> CatalogFile:
        """The current state as a ``CatalogFile``: the file's entries as the operator wrote
        them with the current scores (and versions of learned scores), learned models last."""
        state = self._state
        specs = []
        for name, entry in state.entries.items():
            # A complexity the operator left to default_score stays out of the file, unless
            # the fleet has since published a score for it.
            explicit = state.explicit.get(name, frozenset())
            keep = [c for c in _COMPLEXITIES if c in explicit]
            scores = {c: entry.scores[c] for c in keep}
            versions = {c: entry.versions[c] for c in keep if entry.versions[c] > 0}
            spec = self._specs.get(name)
            if spec is None:
                spec = ModelSpec(
                    name=name, provider=entry.provider, enabled=entry.enabled, scores=scores
                )
            # Only scores change in memory: every other field is the operator's, as written.
            specs.append(spec.model_copy(update={"scores": scores, "versions": versions}))
        return self._config.model_copy(update={"models": tuple(specs)})

    # -- helpers --------------------------------------------------------------------------

    def _take_registry(
        self, entries: dict[str, ModelEntry], change: RegistryChange, force: bool = False
    ) -> bool:
        """Put ``change`` into ``entries`` if newer (or ``force``); under the lock."""
        entry = entries.get(change.model)
        if entry is not None and change.version <= entry.registry_version and not force:
            return False
        if entry is None:
            entry = self._unknown_entry(change.model)
        spec = self._specs.get(change.model)
        allowed = spec.enabled if spec is not None else self._enable_unknown
        prices = entry.prices
        if change.input_per_1k is not None and change.output_per_1k is not None:
            prices = Prices(input_per_1k=change.input_per_1k, output_per_1k=change.output_per_1k)
        entries[change.model] = replace(
            entry,
            provider=change.provider,
            capabilities=frozenset(change.capabilities),
            prices=prices,
            context_window=change.context_window or entry.context_window,
            typical_latency_ms=change.typical_latency_ms or entry.typical_latency_ms,
            enabled=allowed and change.active,
            status=change.status,
            registry_version=change.version,
            tags=frozenset(change.tags),
            regions=frozenset(change.regions),
        )
        self._registry[change.model] = change
        return True

    def _unknown_entry(self, model: str) -> ModelEntry:
        """A model this file does not list, with default scores (see enable_unknown)."""
        default = self._config.default_score
        return ModelEntry(
            name=model,
            provider=UNKNOWN_PROVIDER,
            scores=MappingProxyType(dict.fromkeys(_COMPLEXITIES, default)),
            versions=MappingProxyType(dict.fromkeys(_COMPLEXITIES, 0)),
            enabled=self._enable_unknown,
            learned=True,
        )

    def _entry_from_spec(self, spec: ModelSpec) -> ModelEntry:
        default = self._config.default_score
        return ModelEntry(
            name=spec.name,
            provider=spec.provider,
            capabilities=frozenset(spec.capabilities),
            scores=MappingProxyType({c: spec.scores.get(c, default) for c in _COMPLEXITIES}),
            versions=MappingProxyType({c: spec.versions.get(c, 0) for c in _COMPLEXITIES}),
            prices=spec.prices,
            context_window=spec.context_window,
            typical_latency_ms=spec.typical_latency_ms,
            enabled=spec.enabled,
            splits=MappingProxyType(dict(spec.splits)),
            tags=frozenset(spec.tags),
            regions=frozenset(spec.regions),
        )

    def _with_score(
        self,
        entry: ModelEntry | None,
        model: str,
        complexity: Complexity,
        score: float,
        version: int,
    ) -> ModelEntry:
        if entry is None:
            # Keep what the fleet learned about a model this file does not list.
            entry = self._unknown_entry(model)
        return replace(
            entry,
            scores=MappingProxyType({**entry.scores, complexity: score}),
            versions=MappingProxyType({**entry.versions, complexity: version}),
        )

    @staticmethod
    def _build(
        entries: Mapping[str, ModelEntry], explicit: Mapping[str, frozenset[Complexity]]
    ) -> _State:
        return _State(
            entries=MappingProxyType(dict(entries)),
            ranked=MappingProxyType({c: _rank(entries.values(), c) for c in _COMPLEXITIES}),
            explicit=MappingProxyType(dict(explicit)),
        )
