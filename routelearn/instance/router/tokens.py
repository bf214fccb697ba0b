"""Token counts for cost estimates: tiktoken when installed, a documented heuristic otherwise.

tiktoken is optional (no provider SDK or tokenizer is a dependency of routelearn), so it is
imported on first use, not at import time. Its encoders are built once per model name and kept.
Without tiktoken, or when an encoding cannot be loaded (tiktoken downloads its files on first
use, which fails offline), a text counts ``ceil(len(text) / 4)`` tokens: about four characters
per token for English under the GPT tokenizers. Only cost estimates depend on it; the actual
cost uses the token counts a provider call returns.
"""

from __future__ import annotations

import importlib
import logging
import math
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

CHARS_PER_TOKEN = 4
# For a model tiktoken does not know (every non-OpenAI model): the GPT-4 encoding, close enough
# for an estimate.
DEFAULT_ENCODING = "cl100k_base"

Encode = Callable[[str], int]


def heuristic_tokens(text: str) -> int:
    """The fallback estimate: one token per four characters, rounded up."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


class TokenEstimator:
    """``count(text, model)`` with tiktoken if it can be used, else ``heuristic_tokens``.

    ``use_tiktoken=False`` forces the heuristic (deterministic counts for tests and benchmarks).
    """

    def __init__(self, *, use_tiktoken: bool = True) -> None:
        self._lock = threading.Lock()
        self._encoders: dict[str | None, Encode] = {}
        self._tiktoken: Any = None if use_tiktoken else False  # None: not tried yet

    @property
    def uses_tiktoken(self) -> bool:
        return self._load_tiktoken() is not None

    def count(self, text: str, model: str | None = None) -> int:
        if not text:
            return 0
        encode = self._encoders.get(model)
        if encode is None:
            encode = self._encoder(model)
        return encode(text)

    def _encoder(self, model: str | None) -> Encode:
        with self._lock:
            encode = self._encoders.get(model)
            if encode is None:
                encode = self._build(model)
                self._encoders[model] = encode
            return encode

    def _build(self, model: str | None) -> Encode:
        tiktoken = self._load_tiktoken()
        if tiktoken is None:
            return heuristic_tokens
        try:
            try:
                encoding = tiktoken.encoding_for_model(model) if model else None
            except KeyError:
                encoding = None
            if encoding is None:
                encoding = tiktoken.get_encoding(DEFAULT_ENCODING)
        except Exception as exc:  # tiktoken fetches encodings over the network on first use
            log.warning("tiktoken cannot load an encoding (%s); estimating tokens from length", exc)
            return heuristic_tokens
        # disallowed_special=(): a prompt containing "<|endoftext|>" is text, not an error.
        return lambda text: len(encoding.encode(text, disallowed_special=()))

    def _load_tiktoken(self) -> Any:
        if self._tiktoken is None:
            try:
                # importlib, so type checking does not require the optional package.
                self._tiktoken = importlib.import_module("tiktoken")
            except ImportError:
                self._tiktoken = False
        return self._tiktoken or None
