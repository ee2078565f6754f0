"""The embedder interface: text in, L2-normalised float32 vectors out (inner product = cosine)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]


class ModelNotFoundError(RuntimeError):
    """The configured model is neither a known bundled model nor a local path nor in the HF cache."""


@runtime_checkable
class Embedder(Protocol):
    """Backends are cheap to construct; the model loads on first use or ``warm_up()``."""

    @property
    def name(self) -> str: ...

    @property
    def dim(self) -> int: ...

    @property
    def max_seq_length(self) -> int: ...

    @property
    def model_calls(self) -> int:
        """Texts sent through the model so far (cache hits excluded): what indexing reports as
        embedded."""
        ...

    def encode_queries(self, texts: Sequence[str]) -> Vectors: ...

    def encode_documents(self, texts: Sequence[str]) -> Vectors: ...

    def token_len(self, text: str) -> int: ...

    def warm_up(self) -> None: ...
