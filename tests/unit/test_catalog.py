"""The model catalog: the file format's validation and the thread-safe in-memory catalog."""

from __future__ import annotations

import copy
import json
import os
import random
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml

from routelearn.domain.event import Complexity
from routelearn.instance.catalog import (
    UNKNOWN_PROVIDER,
    CatalogError,
    CatalogFile,
    ModelCatalog,
    dump_catalog,
    load_catalog,
    parse_catalog,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "catalog.yaml"
SIMPLE, MEDIUM, COMPLEX = Complexity.SIMPLE, Complexity.MEDIUM, Complexity.COMPLEX


def raw_example() -> dict[str, Any]:
    data = yaml.safe_load(EXAMPLE.read_text())
    assert isinstance(data, dict)
    return data


def small(**extra: Any) -> dict[str, Any]:
    """Three models: a (vision), b (vision, json_mode), c (disabled)."""
    return {
        "version": 1,
        "default_score": 2.5,
        "models": [
            {"name": "a", "provider": "p", "capabilities": ["vision"], "scores": {"simple": 4.0}},
            {
                "name": "b",
                "provider": "p",
                "capabilities": ["vision", "json_mode"],
                "scores": {"simple": 3.0, "medium": 4.5, "complex": 1.0},
            },
            {"name": "c", "provider": "q", "scores": {"simple": 5.0}, "enabled": False},
        ],
        **extra,
    }


def problems_of(data: dict[str, Any]) -> tuple[str, ...]:
    with pytest.raises(CatalogError) as caught:
        parse_catalog(data, "test.yaml")
    return caught.value.problems


# -- the file -------------------------------------------------------------------------------


def test_example_file_parses() -> None:
    catalog = load_catalog(EXAMPLE)
    names = [spec.name for spec in catalog.models]
    assert len(names) >= 8 and len(set(names)) == len(names)
    assert len({spec.provider for spec in catalog.models}) >= 4
    sonnet = next(spec for spec in catalog.models if spec.name == "claude-sonnet")
    assert sonnet.splits[COMPLEX].model == "claude-sonnet-next"
    assert sonnet.splits[COMPLEX].percent == 10
    assert sonnet.prices is not None and sonnet.prices.output_per_1k == 0.015
    assert "vision" in sonnet.capabilities and sonnet.context_window == 200_000


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            lambda d: d["models"][4]["scores"].update(complex=7.0),
            "models[4] (claude-haiku).scores.complex: 7.0 is not within 0.0-5.0",
        ),
        (
            lambda d: d["models"][4]["scores"].update(simple=float("nan")),
            "models[4] (claude-haiku).scores.simple: nan is not within 0.0-5.0",
        ),
        (
            lambda d: d["models"][4]["scores"].update(simple=True),
            "models[4] (claude-haiku).scores.simple: should be a valid number",
        ),
        (
            lambda d: d["models"][4]["scores"].update(hard=3.0),
            "models[4] (claude-haiku).scores.hard: 'hard' is not one of simple, medium, complex",
        ),
        (
            lambda d: d["models"][4].update(typical_latency=300),
            "models[4] (claude-haiku).typical_latency: is not a known field",
        ),
        (
            lambda d: d["models"][4].pop("provider"),
            "models[4] (claude-haiku).provider: is required",
        ),
        (
            lambda d: d["models"][4].update(context_window=0),
            "models[4] (claude-haiku).context_window: should be greater than 0",
        ),
        (
            lambda d: d["models"][4].update(capabilities=["vision", "vision"]),
            "models[4] (claude-haiku).capabilities: 'vision' is listed twice",
        ),
        (
            lambda d: d["models"][4]["prices"].update(input_per_1k=-0.1),
            "models[4] (claude-haiku).prices.input_per_1k: should be greater than or equal to 0",
        ),
        (
            lambda d: d["models"][4]["prices"].pop("output_per_1k"),
            "models[4] (claude-haiku).prices.output_per_1k: is required",
        ),
        (
            lambda d: d["models"][4].update(enabled="maybe"),
            "models[4] (claude-haiku).enabled: should be a valid boolean",
        ),
        (
            lambda d: d["models"][2]["splits"]["complex"].update(percent=150),
            "models[2] (claude-sonnet).splits.complex.percent: should be less than or equal to 100",
        ),
        (
            lambda d: d["models"][2]["splits"]["complex"].update(model="claude-sonnet"),
            "models[2] (claude-sonnet).splits.complex.model: is this model itself",
        ),
        (
            lambda d: d["models"][2].update(versions={"simple": 3, "medium": -1}),
            "models[2] (claude-sonnet).versions.medium: should be greater than or equal to 0",
        ),
        (
            lambda d: d["models"][3].update(versions={"simple": 3}),
            "models[3] (claude-sonnet-next).versions.simple: has no score in scores",
        ),
        (lambda d: d["models"][4].update(name=3.5), "models[4].name: should be a valid string"),
        (lambda d: d.update(version=2), "version: 2 is not supported (routelearn reads version 1)"),
        (lambda d: d.update(default_score=9), "default_score: 9.0 is not within 0.0-5.0"),
        (lambda d: d.update(models={"a": 1}), "models: should be a list"),
        (lambda d: d.pop("models"), "models: is required"),
    ],
)
def test_each_validation_error_names_model_and_field(edit: Any, expected: str) -> None:
    data = raw_example()
    edit(data)
    assert problems_of(data) == (expected,)


def test_every_error_is_reported_at_once() -> None:
    data = raw_example()
    data["models"][0]["scores"]["simple"] = -1.0
    data["models"][5]["color"] = "blue"
    with pytest.raises(CatalogError) as caught:
        parse_catalog(data, "test.yaml")
    assert caught.value.problems == (
        "models[0] (gpt-4o).scores.simple: -1.0 is not within 0.0-5.0",
        "models[5] (llama-3-70b).color: is not a known field",
    )
    assert str(caught.value).startswith("test.yaml: 2 errors\n  models[0] (gpt-4o)")


def test_duplicate_names_are_refused() -> None:
    data = raw_example()
    data["models"][6]["name"] = "gpt-4o"
    assert problems_of(data) == ("models[6] (gpt-4o).name: duplicate of models[0]",)


def test_split_target_must_be_in_the_catalog() -> None:
    data = raw_example()
    data["models"][2]["splits"]["complex"]["model"] = "claude-opus"
    assert problems_of(data) == (
        "models[2] (claude-sonnet).splits.complex.model: 'claude-opus' is not a model of this "
        "catalog",
    )


def test_duplicate_yaml_keys_and_bad_files(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("version: 1\nmodels:\n  - name: a\n    provider: p\n    provider: q\n")
    with pytest.raises(CatalogError, match="found duplicate key 'provider'"):
        load_catalog(path)
    path.write_text("")
    with pytest.raises(CatalogError, match="is empty"):
        load_catalog(path)
    path.write_text("version: [1\n")
    with pytest.raises(CatalogError, match="is not valid YAML"):
        load_catalog(path)
    with pytest.raises(CatalogError, match="cannot be read"):
        load_catalog(tmp_path / "missing.yaml")


def test_missing_complexities_take_default_score() -> None:
    catalog = ModelCatalog.from_config(small(default_score=1.5))
    assert catalog.score("a", SIMPLE) == 4.0
    assert catalog.score("a", "medium") == 1.5
    assert catalog.score("a", COMPLEX) == 1.5
    assert catalog.version("a", COMPLEX) == 0
    assert catalog.score("never-seen", COMPLEX) == 1.5
    assert catalog.version("never-seen", COMPLEX) is None
    with pytest.raises(ValueError):
        catalog.score("a", "hard")


def test_round_trip(tmp_path: Path) -> None:
    first = load_catalog(EXAMPLE)
    dump_catalog(first, tmp_path / "out.yaml")
    second = load_catalog(tmp_path / "out.yaml")
    assert second == first
    dump_catalog(second, tmp_path / "again.yaml")
    assert (tmp_path / "again.yaml").read_text() == (tmp_path / "out.yaml").read_text()


def test_dump_is_atomic_and_keeps_permissions(tmp_path: Path) -> None:
    path = tmp_path / "catalog.yaml"
    path.write_text("old")
    os.chmod(path, 0o640)
    dump_catalog(load_catalog(EXAMPLE), path)
    assert path.stat().st_mode & 0o777 == 0o640
    assert os.listdir(tmp_path) == ["catalog.yaml"]  # no temporary file left behind


# -- the in-memory catalog ------------------------------------------------------------------


def test_apply_update_orders_by_version() -> None:
    catalog = ModelCatalog.from_config(small())
    assert catalog.apply_update("b", COMPLEX, 2.0, version=0) is False  # file scores are v0
    assert catalog.apply_update("b", COMPLEX, 2.0, version=2) is True
    assert catalog.apply_update("b", COMPLEX, 3.0, version=2) is False  # equal: a redelivery
    assert catalog.apply_update("b", COMPLEX, 3.0, version=1) is False  # older: a straggler
    assert (catalog.score("b", COMPLEX), catalog.version("b", COMPLEX)) == (2.0, 2)
    assert catalog.apply_update("b", "complex", 3.0, version=3) is True
    assert catalog.score("b", COMPLEX) == 3.0
    assert catalog.score("b", SIMPLE) == 3.0 and catalog.version("b", SIMPLE) == 0


def test_apply_update_refuses_bad_values() -> None:
    catalog = ModelCatalog.from_config(small())
    with pytest.raises(ValueError, match="not within"):
        catalog.apply_update("a", SIMPLE, 5.5, version=1)
    with pytest.raises(ValueError, match="version"):
        catalog.apply_update("a", SIMPLE, 4.5, version=-1)
    with pytest.raises(ValueError):
        catalog.apply_update("a", "hard", 4.5, version=1)


def test_unknown_model_is_added_and_kept(tmp_path: Path) -> None:
    catalog = ModelCatalog.from_config(small())
    assert catalog.apply_update("new-model", MEDIUM, 4.9, version=0) is True
    entry = catalog.entry("new-model")
    assert entry is not None
    assert (entry.provider, entry.capabilities, entry.learned) == (
        UNKNOWN_PROVIDER,
        frozenset(),
        True,
    )
    assert entry.scores == {SIMPLE: 2.5, MEDIUM: 4.9, COMPLEX: 2.5}
    # Not routed to by default: this instance's operator never configured it.
    assert not entry.enabled
    assert "new-model" not in [e.name for e, _ in catalog.candidates(MEDIUM)]

    enabled = ModelCatalog.from_config(small(), enable_unknown=True)
    enabled.apply_update("new-model", MEDIUM, 4.9, version=1)
    assert enabled.candidates(MEDIUM)[0][0].name == "new-model"

    catalog.save(tmp_path / "saved.yaml")
    reloaded = ModelCatalog.from_file(tmp_path / "saved.yaml")
    assert reloaded.snapshot() == catalog.snapshot()


def test_candidates_filter_and_sort() -> None:
    catalog = ModelCatalog.from_config(small())
    assert [(e.name, s) for e, s in catalog.candidates(SIMPLE)] == [("a", 4.0), ("b", 3.0)]
    assert [e.name for e, _ in catalog.candidates(MEDIUM)] == ["b", "a"]
    assert [e.name for e, _ in catalog.candidates(MEDIUM, ["json_mode"])] == ["b"]
    assert [e.name for e, _ in catalog.candidates(SIMPLE, ("vision", "json_mode"))] == ["b"]
    assert catalog.candidates(SIMPLE, ["audio"]) == []
    # A tie goes to the name, so every instance makes the same choice.
    catalog.apply_update("b", SIMPLE, 4.0, version=1)
    assert [e.name for e, _ in catalog.candidates(SIMPLE)] == ["a", "b"]
    catalog.apply_update("b", SIMPLE, 4.1, version=2)
    assert [e.name for e, _ in catalog.candidates(SIMPLE)] == ["b", "a"]
    # c is disabled: it keeps learning but is never a candidate.
    assert catalog.apply_update("c", SIMPLE, 5.0, version=1)
    assert "c" not in [e.name for e, _ in catalog.candidates(SIMPLE)]
    with pytest.raises(ValueError):
        catalog.candidates("hard")


def test_models_and_entry() -> None:
    catalog = ModelCatalog.from_config(CatalogFile.model_validate(small()))
    assert [e.name for e in catalog.models()] == ["a", "b", "c"]
    assert len(catalog) == 3 and "a" in catalog and "z" not in catalog
    assert catalog.entry("z") is None
    entry = catalog.entry("b")
    assert entry is not None and entry.score("medium") == 4.5
    with pytest.raises(AttributeError):
        entry.name = "x"  # type: ignore[misc]
    hash(entry)  # usable in sets, despite its mapping fields


def test_snapshot_and_apply_snapshot() -> None:
    source = ModelCatalog.from_config(small())
    source.apply_update("a", COMPLEX, 3.3, version=4)
    source.apply_update("fresh", SIMPLE, 4.4, version=1)
    snapshot = source.snapshot()
    assert json.loads(json.dumps(snapshot)) == snapshot
    assert snapshot["models"]["a"]["complex"] == {"score": 3.3, "version": 4}

    target = ModelCatalog.from_config(small())
    target.apply_update("a", SIMPLE, 1.0, version=9)  # newer here than in the snapshot
    assert target.apply_snapshot(snapshot) == 2  # a.complex and fresh.simple
    assert target.score("a", COMPLEX) == 3.3
    assert target.score("a", SIMPLE) == 1.0  # the snapshot's v0 does not undo v9
    assert target.score("fresh", SIMPLE) == 4.4
    assert target.apply_snapshot(snapshot) == 0  # idempotent

    with pytest.raises(CatalogError):
        target.apply_snapshot({"models": {"a": {"simple": {"score": 9.0, "version": 10}}}})


def test_save_keeps_operator_fields_and_versions(tmp_path: Path) -> None:
    catalog = ModelCatalog.from_file(EXAMPLE)
    catalog.apply_update("claude-haiku", COMPLEX, 3.4, version=7)
    catalog.apply_update("claude-sonnet-next", SIMPLE, 4.0, version=2)
    path = tmp_path / "learned.yaml"
    catalog.save(path)

    saved = load_catalog(path)
    original = load_catalog(EXAMPLE)
    for before, after in zip(original.models, saved.models, strict=True):
        assert before.model_dump(exclude={"scores", "versions"}) == after.model_dump(
            exclude={"scores", "versions"}
        )
    haiku = next(spec for spec in saved.models if spec.name == "claude-haiku")
    assert (haiku.scores[COMPLEX], haiku.versions) == (3.4, {COMPLEX: 7})
    nxt = next(spec for spec in saved.models if spec.name == "claude-sonnet-next")
    # medium stays left to default_score; simple was learned and is written with its version.
    assert nxt.scores == {SIMPLE: 4.0, COMPLEX: 4.6} and nxt.versions == {SIMPLE: 2}

    restarted = ModelCatalog.from_file(path)
    assert restarted.snapshot() == catalog.snapshot()
    # An old queued update does not undo the persisted, newer score.
    assert restarted.apply_update("claude-haiku", COMPLEX, 1.0, version=6) is False


def test_concurrent_readers_and_writers() -> None:
    catalog = ModelCatalog.from_config(small())
    models = ["a", "b", "c", "x", "y"]
    writers, updates_each = 4, 300
    errors: list[BaseException] = []
    stop = threading.Event()

    def write(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for _ in range(updates_each):
                version = rng.randint(1, 1000)
                # The score is a function of the version, so the final state is predictable.
                catalog.apply_update(
                    rng.choice(models), rng.choice(list(Complexity)), version / 200, version
                )
        except BaseException as exc:
            errors.append(exc)

    def read() -> None:
        try:
            while not stop.is_set():
                for complexity in Complexity:
                    ranked = catalog.candidates(complexity)
                    scores = [score for _, score in ranked]
                    assert scores == sorted(scores, reverse=True)
                    for entry, score in ranked:
                        assert entry.enabled and entry.scores[complexity] == score
                catalog.snapshot()
        except BaseException as exc:
            errors.append(exc)

    readers = [threading.Thread(target=read) for _ in range(4)]
    threads = [threading.Thread(target=write, args=(seed,)) for seed in range(writers)]
    for thread in readers + threads:
        thread.start()
    for thread in threads:
        thread.join()
    stop.set()
    for thread in readers:
        thread.join()
    assert errors == []

    # Every (model, complexity) holds the highest version any writer sent, with its score.
    expected: dict[tuple[str, str], int] = {}
    for seed in range(writers):
        rng = random.Random(seed)
        for _ in range(updates_each):
            version = rng.randint(1, 1000)
            key = (rng.choice(models), rng.choice(list(Complexity)).value)
            expected[key] = max(expected.get(key, 0), version)
    snapshot = catalog.snapshot()["models"]
    for (model, complexity), version in expected.items():
        assert snapshot[model][complexity] == {"score": version / 200, "version": version}


def test_from_config_validates_plain_data() -> None:
    data = copy.deepcopy(small())
    data["models"][0]["scores"]["simple"] = 6
    with pytest.raises(CatalogError, match=r"models\[0\] \(a\)\.scores\.simple"):
        ModelCatalog.from_config(data)


def test_reload_takes_the_new_file_and_keeps_newer_fleet_scores() -> None:
    catalog = ModelCatalog.from_config(small())
    assert catalog.apply_update("a", COMPLEX, 1.0, 5)  # the fleet's, version 5
    assert catalog.apply_update("gone", SIMPLE, 3.0, 2)  # learned, not in any file
    edited = small()
    edited["models"] = [m for m in edited["models"] if m["name"] != "b"]
    edited["models"].append({"name": "new", "provider": "p", "scores": {"complex": 4.9}})
    edited["models"][0]["scores"] = {"simple": 0.5, "complex": 4.0}  # a: file version 0
    catalog.reload(edited)
    assert catalog.score("a", COMPLEX) == 1.0 and catalog.version("a", COMPLEX) == 5
    assert catalog.score("a", SIMPLE) == 0.5  # the file's, nothing newer held
    assert "b" not in catalog  # removed from the file, never scored by the fleet
    assert catalog.score("new", COMPLEX) == 4.9
    assert catalog.candidates(COMPLEX)[0][0].name == "new"
    learned = catalog.entry("gone")
    assert learned is not None and learned.learned and not learned.enabled
