"""The central registry's records and changes, and how an instance's catalog applies them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from routelearn.domain.event import Complexity
from routelearn.domain.registry import (
    REMOVED,
    EndpointSpec,
    HealthSpec,
    InvalidRegistryChange,
    ModelRecord,
    ModelStatus,
    RegistryChange,
    StatusBatch,
)
from routelearn.instance.catalog import ModelCatalog
from tests.factories import SEED_MODEL
from tests.unit.test_catalog import small

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
SIMPLE = Complexity.SIMPLE


def change(model: str, version: int, status: str = "active", **fields: Any) -> RegistryChange:
    values: dict[str, Any] = {
        "provider": "p",
        "capabilities": ("vision",),
        "input_per_1k": None,
        "output_per_1k": None,
        "context_window": None,
        "typical_latency_ms": None,
        **fields,
    }
    return RegistryChange(model=model, version=version, status=status, timestamp=NOW, **values)


def test_seed_example_registers_and_round_trips() -> None:
    record = ModelRecord.model_validate(SEED_MODEL)
    assert record.id == "gpt-4-1106-preview"  # modelId defaults to version
    assert record.capabilities[0].max_tokens == 4096
    document = record.document()
    assert document["modelId"] == "gpt-4-1106-preview" and document["modelType"] == "chat"
    assert ModelRecord.model_validate(document) == record


def test_model_id_falls_back_to_name_and_may_be_given() -> None:
    assert ModelRecord.model_validate({"name": "local-llama", "provider": "ollama"}).id == (
        "local-llama"
    )
    given = ModelRecord.model_validate({**SEED_MODEL, "modelId": "gpt-4-turbo"})
    assert given.id == "gpt-4-turbo"


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        ({"status": "retired"}, "status"),
        ({"capabilities": [{"type": "x"}, {"type": "x"}]}, "capabilities"),
        ({"parameters": {"stop": ["a", "b"]}}, "parameters"),
        ({"parameters": {"temperature": float("nan")}}, "parameters"),
        ({"tags": ["ok"] * 33}, "tags"),
        ({"prices": {"inputPer1k": -1, "outputPer1k": 0}}, "prices.inputPer1k"),
        ({"provider": ""}, "provider"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_bad_records_name_the_field(edit: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        ModelRecord.model_validate({**SEED_MODEL, **edit})
    located = [".".join(str(p) for p in e["loc"]) for e in caught.value.errors()]
    assert any(where.startswith(field) for where in located), located


def test_change_message_round_trip_and_validation() -> None:
    record = ModelRecord.model_validate(
        {**SEED_MODEL, "prices": {"inputPer1k": 0.01, "outputPer1k": 0.03}, "contextWindow": 128000}
    )
    sent = RegistryChange.of(record, 7, NOW)
    assert RegistryChange.from_message(sent.to_message()) == sent
    assert sent.removed(8, NOW).status == REMOVED and not sent.removed(8, NOW).active
    message = sent.to_message()
    for bad, field in [
        ({**message, "version": 0}, "version"),
        ({**message, "status": "gone"}, "status"),
        ({**message, "timestamp": "2026-12-02T12:00:00"}, "timestamp"),
        ({**message, "event_type": "model_score_update"}, "event_type"),
    ]:
        with pytest.raises(InvalidRegistryChange, match=field):
            RegistryChange.from_message(bad)
    # A newer producer's extra field is ignored.
    assert RegistryChange.from_message({**message, "region": "eu"}) == sent


def test_batch_endpoint_and_health_bodies() -> None:
    with pytest.raises(ValidationError, match="listed twice"):
        StatusBatch.model_validate(
            {
                "updates": [
                    {"modelId": "a", "status": "active"},
                    {"modelId": "a", "status": "active"},
                ]
            }
        )
    with pytest.raises(ValidationError):
        StatusBatch.model_validate({"updates": []})
    with pytest.raises(ValidationError):
        EndpointSpec.model_validate({"url": "ftp://x"})
    assert HealthSpec.model_validate({"status": "healthy", "errorRate": 0.01}).error_rate == 0.01
    with pytest.raises(ValidationError):
        HealthSpec.model_validate({"status": "healthy", "availability": 101})


def chosen(catalog: ModelCatalog) -> list[str]:
    return [entry.name for entry, _ in catalog.candidates(SIMPLE)]


def test_inactive_model_is_not_a_candidate_until_active_again() -> None:
    catalog = ModelCatalog.from_config(small())
    assert chosen(catalog) == ["a", "b"]
    assert catalog.apply_registry(change("a", 5, ModelStatus.INACTIVE.value))
    assert chosen(catalog) == ["b"]
    entry = catalog.entry("a")
    assert entry is not None and entry.status == "inactive" and entry.registry_version == 5
    assert not catalog.apply_registry(change("a", 4))  # older: a straggler
    assert not catalog.apply_registry(change("a", 5))  # the same: a duplicate
    assert chosen(catalog) == ["b"]
    assert catalog.apply_registry(change("a", 6))
    assert chosen(catalog) == ["a", "b"]


def test_registry_sets_operator_fields_but_the_file_keeps_its_veto() -> None:
    catalog = ModelCatalog.from_config(small())
    catalog.apply_registry(
        change(
            "b", 3, provider="p2", capabilities=("json_mode",), input_per_1k=0.5, output_per_1k=1
        )
    )
    entry = catalog.entry("b")
    assert entry is not None and entry.provider == "p2"
    assert entry.capabilities == frozenset({"json_mode"})
    assert entry.prices is not None and entry.prices.input_per_1k == 0.5
    assert [e.name for e, _ in catalog.candidates(SIMPLE, ["vision"])] == ["a"]
    catalog.apply_registry(change("c", 4))  # c is disabled in the file: stays out
    assert "c" not in chosen(catalog)


def test_unknown_and_removed_models() -> None:
    strict, trusting = (
        ModelCatalog.from_config(small()),
        ModelCatalog.from_config(small(), enable_unknown=True),
    )
    for catalog in (strict, trusting):
        assert catalog.apply_registry(change("new", 9))
    assert "new" not in chosen(strict)
    assert "new" in chosen(trusting)
    assert trusting.apply_registry(change("new", 10, REMOVED))
    assert "new" not in chosen(trusting)
    assert not trusting.apply_registry(change("new", 9))  # a late older change cannot revive it


def test_snapshot_carries_the_registry_and_reload_keeps_it() -> None:
    catalog = ModelCatalog.from_config(small())
    snapshot = {"models": {}, "registry": [change("a", 2, "maintenance").to_message()]}
    assert catalog.apply_snapshot(snapshot) == 1
    assert chosen(catalog) == ["b"]
    assert catalog.apply_snapshot(snapshot) == 0
    catalog.reload(small())
    assert chosen(catalog) == ["b"]  # the file's reload does not undo the registry


def test_malformed_registry_in_a_snapshot_is_refused() -> None:
    from routelearn.instance.catalog import CatalogError

    catalog = ModelCatalog.from_config(small())
    with pytest.raises(CatalogError, match="registry change"):
        catalog.apply_snapshot({"models": {}, "registry": [{"model": "a"}]})
    assert chosen(catalog) == ["a", "b"]
