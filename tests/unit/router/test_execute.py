"""execute(): the call, fallback, attempts, the events of each attempt, and errors."""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from collections.abc import Mapping
from typing import Any

import pytest

from routelearn.catalog import ModelEntry
from routelearn.router import (
    CallOutput,
    ExecutionFailedError,
    NoModelAvailableError,
    ProviderError,
    Reason,
    RouteLearnError if False else ExecutionFailedError,  # noqa: F811 - placeholder removed below
)
