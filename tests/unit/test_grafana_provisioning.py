"""deploy/grafana as Grafana provisions it: every panel and variable reads the provisioned data
source, and the dashboards provider points at the dashboards (no Grafana runs here)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

GRAFANA = Path(__file__).resolve().parents[2] / "deploy" / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))


def _datasource() -> dict[str, Any]:
    doc = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    (source,) = doc["datasources"]
    return dict(source)


def _with_datasource(board: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    def walk(panels: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
        for panel in panels:
            if panel["type"] != "row":
                yield panel["title"], panel["datasource"]
                for target in panel["targets"]:
                    yield f"{panel['title']} {target['refId']}", target["datasource"]
            yield from walk(panel.get("panels", []))

    yield from walk(board["panels"])
    for variable in board["templating"]["list"]:
        yield f"${variable['name']}", variable["datasource"]


def test_every_panel_reads_the_provisioned_prometheus() -> None:
    source = _datasource()
    assert source["type"] == "prometheus"
    assert source["url"] == "${PROMETHEUS_URL}"
    for path in DASHBOARDS:
        for place, used in _with_datasource(json.loads(path.read_text())):
            assert used == {"type": "prometheus", "uid": source["uid"]}, f"{path.name}: {place}"


def test_dashboards_have_unique_ids_and_panel_ids() -> None:
    uids = [json.loads(p.read_text())["uid"] for p in DASHBOARDS]
    assert len(uids) == len(set(uids)) == 3
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        ids = [panel["id"] for panel in board["panels"]]
        assert len(ids) == len(set(ids)), path.name


def test_the_provider_path_is_the_dashboards_directory() -> None:
    doc = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "routelearn.yml").read_text())
    (provider,) = doc["providers"]
    # Grafana expands ${GF_PATHS_PROVISIONING} from its environment, as os.path.expandvars does.
    path = provider["options"]["path"].replace(
        "${GF_PATHS_PROVISIONING}", str(GRAFANA / "provisioning")
    )
    assert Path(os.path.normpath(path)) == GRAFANA / "dashboards"
