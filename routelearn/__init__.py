"""routelearn: fleet-wide learning of which LLM to route each kind of request to."""

from __future__ import annotations

__version__ = "0.1.0"
