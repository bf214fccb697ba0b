"""No module of routelearn imports, however indirectly, a module that imports it: the
module-level complement of the package-level contracts in pyproject.toml (``lint-imports``)."""

from __future__ import annotations

import grimp


def test_no_import_circle_between_modules() -> None:
    graph = grimp.build_graph("routelearn", exclude_type_checking_imports=True, cache_dir=None)
    assert len(graph.modules) > 100  # the whole package was read
    circles = []
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            back = graph.find_shortest_chain(importer=imported, imported=importer)
            if back is not None:
                circles.append(" -> ".join((importer, *back)))
    assert not circles, "import circles:\n" + "\n".join(circles)
