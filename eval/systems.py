"""Systems under evaluation and the backends that run them.

A *system* is a name, a search mode, a retrieval backend and scoring overrides: any field of
``service.answering.config.ScoringConfig`` (``--system w5=mode:hybrid,fusion.dense_weight:0.5``; a field name
alone works when it is unique, and ``fusion:rrf`` / ``rerank:false`` are kept as short forms), and
``backend:milvus`` to search the same index in Milvus (``indexer.backends.milvus.view``). A *backend* runs a system's searches and answers — in-process over a loaded index, or over HTTP
against a deployment — and looks up reports for the judges.
"""

from __future__ import annotations

import functools
import re
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from eval.types import AnswerView, Retrieved
from indexer.types import Hit, Report
from service.answering.config import DEFAULT, ScoringConfig
from service.answering.content import has_content
from service.answering.types import NO_CONTENT, Citation, Composer

if TYPE_CHECKING:
    import httpx

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
# Short forms kept from before the scoring configuration existed.
_ALIASES = {
    "fusion": "fusion.method",
    "rerank": "rerank.enabled",
    "rerank_alpha": "rerank.alpha",
    "rerank_depth": "rerank.depth",
    "confidence_tau": "fusion.confidence_tau",
    "semantic_weight": "rerank.semantic_weight",
}


# Where a system's BM25 and vector searches run: the index folder's files, or Milvus.
RETRIEVAL_BACKENDS = ("local", "milvus")


@dataclass(frozen=True)
class System:
    """A configuration to score: ``mode``, ``options`` (the scoring overrides as given) and the
    retrieval ``backend`` (``RETRIEVAL_BACKENDS``)."""

    name: str
    mode: str = "hybrid"
    options: Mapping[str, Any] = field(default_factory=dict)
    backend: str = "local"

    @functools.cached_property
    def scoring(self) -> ScoringConfig:
        """The default scoring configuration with this system's overrides."""
        return scoring_for(self.options)

    def describe(self) -> str:
        opts = ", ".join(f"{k}={v}" for k, v in self.options.items())
        where = "" if self.backend == "local" else f" in {self.backend}"
        return f"{self.mode}{where}" + (f" ({opts})" if opts else "")

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "mode": self.mode, "options": dict(self.options), "backend": self.backend}


DEFAULT_SYSTEMS: tuple[System, ...] = (
    System("keyword", "keyword"),
    System("dense", "dense"),
    System("hybrid", "hybrid"),
)
SERVED = System("served", "served")


def _value(text: str) -> Any:
    """An option value: int, float, bool, else the string itself."""
    low = text.lower()
    if low in {"true", "false"}:
        return low == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_system(spec: str) -> System:
    """Parse ``name=key:value,key:value`` (``mode`` defaults to hybrid); ``name`` alone is a
    hybrid system with default options."""
    name, _, opts = spec.partition("=")
    name = name.strip()
    if not _NAME.match(name):
        raise ValueError(
            f"system name {name!r}: use letters, digits, '_', '.', '-' (it names files and metrics)"
        )
    options: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in opts.split(","))):
        key, sep, value = part.partition(":")
        if not sep or not key.strip() or not value.strip():
            raise ValueError(f"system {name!r}: option {part!r} is not key:value")
        options[key.strip()] = _value(value.strip())
    mode = str(options.pop("mode", "hybrid"))
    backend = str(options.pop("backend", "local"))
    if backend not in RETRIEVAL_BACKENDS:
        raise ValueError(f"system {name!r}: backend must be one of {', '.join(RETRIEVAL_BACKENDS)}, "
                         f"got {backend!r}")
    try:
        scoring_for(options)
    except ValueError as exc:
        raise ValueError(f"system {name!r}: {exc}") from None
    return System(name, mode, options, backend)


def milvus_twins(systems: Sequence[System]) -> list[System]:
    """``systems``, each followed by the same system over Milvus (``<name>-milvus``): both
    backends scored side by side in one run."""
    out: list[System] = []
    for s in systems:
        out.append(s)
        if s.backend == "local":
            out.append(System(f"{s.name}-milvus", s.mode, s.options, "milvus"))
    return list({s.name: s for s in out}.values())


def scoring_for(options: Mapping[str, Any]) -> ScoringConfig:
    """``DEFAULT`` with ``options`` applied (short forms expanded); ValueError names a bad one."""
    if not options:
        return DEFAULT
    return DEFAULT.with_overrides({_ALIASES.get(k, k): v for k, v in options.items()})


def select_systems(extra: Sequence[System] = (), *, defaults: bool = True) -> list[System]:
    """The default systems, then the extra ones; an extra system with a default's name replaces it."""
    systems: dict[str, System] = {s.name: s for s in DEFAULT_SYSTEMS} if defaults else {}
    for s in extra:
        systems[s.name] = s
    return list(systems.values())


class Backend(Protocol):
    """Runs systems and looks reports up (it is the judges' ``DocLookup``)."""

    def search(self, query: str, system: System, top_k: int) -> list[Retrieved]: ...

    def ask(self, question: str, system: System, top_k: int) -> AnswerView: ...

    def warm_up(self, systems: Sequence[System]) -> None: ...

    def text(self, doc_id: str) -> str | None: ...

    def title(self, doc_id: str) -> str: ...

    def source_id(self, doc_id: str) -> str | None: ...


class SearcherLike(Protocol):
    """What the evaluation needs of ``indexer.retrieval.search.Searcher``."""

    @property
    def reports(self) -> Mapping[str, Report]: ...

    def search(
        self, query: str, top_k: int = 10, mode: str = "hybrid", *, scoring: ScoringConfig = ...
    ) -> list[Hit]: ...


def _retrieved(hits: Sequence[Hit], reports: Mapping[str, Report]) -> list[Retrieved]:
    out = []
    for rank, hit in enumerate(hits, start=1):
        c = hit.chunk
        report = reports.get(c.doc_id)
        title = c.title or (report.title if report is not None else "")
        out.append(Retrieved(rank, c.doc_id, c.chunk_id, c.text, title, float(hit.score)))
    return out


class InProcessBackend:
    """Searches a loaded index and composes answers in this process, as the service does
    (``service.answering``): the same content check, and with ``composer_for`` a composer made
    for each system's searcher and scoring configuration. ``searcher`` is the local backend;
    ``others`` holds the same index behind other retrieval backends (``{"milvus": ...}``)."""

    def __init__(
        self,
        searcher: SearcherLike,
        composer: Composer | None = None,
        *,
        composer_for: Callable[[SearcherLike, ScoringConfig], Composer] | None = None,
        others: Mapping[str, SearcherLike] | None = None,
    ) -> None:
        self.searcher = searcher
        self.composer = composer
        self.composer_for = composer_for
        self.searchers: dict[str, SearcherLike] = {"local": searcher, **(others or {})}
        self._composers: dict[str, Composer] = {}

    def _searcher(self, system: System) -> SearcherLike:
        if system.backend not in self.searchers:
            raise ValueError(f"system {system.name!r} searches in {system.backend}, which this run "
                             "has no index in (zhiwen eval --milvus-uri)")
        return self.searchers[system.backend]

    def _hits(self, query: str, system: System, top_k: int) -> list[Hit]:
        return self._searcher(system).search(query, top_k=top_k, mode=system.mode, scoring=system.scoring)

    def _composer(self, system: System) -> Composer | None:
        if self.composer_for is None:
            return self.composer
        if system.name not in self._composers:
            self._composers[system.name] = self.composer_for(self._searcher(system), system.scoring)
        return self._composers[system.name]

    def search(self, query: str, system: System, top_k: int) -> list[Retrieved]:
        return _retrieved(self._hits(query, system, top_k), self.searcher.reports)

    def ask(self, question: str, system: System, top_k: int) -> AnswerView:
        composer = self._composer(system)
        if composer is None:
            raise RuntimeError("this backend has no composer; answers cannot be evaluated")
        if not has_content(question):
            return AnswerView(NO_CONTENT, False, ())
        hits = self._hits(question, system, top_k)
        answer = composer.compose(question, hits, self.searcher.reports)
        return AnswerView(answer.text, answer.answerable, tuple(answer.citations), answer.confidence)

    def warm_up(self, systems: Sequence[System]) -> None:
        """Load the model and touch each system once, so the first timed query is not a cold one."""
        for system in systems:
            self._hits("预热", system, 1)

    def text(self, doc_id: str) -> str | None:
        report = self.searcher.reports.get(doc_id)
        return report.text if report is not None else None

    def title(self, doc_id: str) -> str:
        report = self.searcher.reports.get(doc_id)
        return report.title if report is not None else ""

    def source_id(self, doc_id: str) -> str | None:
        report = self.searcher.reports.get(doc_id)
        if report is None:
            return None
        source = report.meta.get("source_id")
        return str(source) if source else None


class HttpError(RuntimeError):
    """The deployment answered with an error status or an unexpected body."""


class HttpBackend:
    """Scores a running deployment through its HTTP API; only the served system exists here.

    ``POST /v1/search {query, top_k}``, ``POST /v1/ask {question, top_k}``,
    ``GET /v1/documents/{doc_id}`` (fetched once per document, for the judges).
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 60.0,
        api_key: str | None = None,
        client: httpx.Client | None = None,
    ) -> None:
        import httpx

        headers = {"X-API-Key": api_key} if api_key else {}
        self.client = client or httpx.Client(
            base_url=base_url.rstrip("/"), timeout=timeout, headers=headers
        )
        self._docs: dict[str, dict[str, Any] | None] = {}

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.client.post(path, json=body)
        if response.status_code != 200:
            raise HttpError(f"POST {path}: HTTP {response.status_code}: {response.text[:300]}")
        data = response.json()
        if not isinstance(data, dict):
            raise HttpError(f"POST {path}: expected a JSON object")
        return data

    def search(self, query: str, system: System, top_k: int) -> list[Retrieved]:
        data = self._post("/v1/search", {"query": query, "top_k": top_k})
        return [
            Retrieved(
                rank=rank,
                doc_id=str(r["doc_id"]),
                chunk_id=str(r.get("chunk_id") or f"{r['doc_id']}#{rank}"),
                text=str(r.get("text", "")),
                title=str(r.get("title", "")),
                score=float(r.get("score", 0.0)),
            )
            for rank, r in enumerate(data.get("results", []), start=1)
        ]

    def ask(self, question: str, system: System, top_k: int) -> AnswerView:
        data = self._post("/v1/ask", {"question": question, "top_k": top_k})
        citations = tuple(
            Citation(
                n=int(c.get("n", i)),
                doc_id=str(c["doc_id"]),
                title=str(c.get("title", "")),
                quote=str(c.get("quote", "")),
                start=int(c.get("start", 0)),
                end=int(c.get("end", 0)),
                supported=bool(c.get("supported", True)),
            )
            for i, c in enumerate(data.get("citations", []), start=1)
        )
        confidence = data.get("confidence")
        return AnswerView(
            str(data.get("answer", "")), bool(data.get("answerable")), citations,
            float(confidence) if isinstance(confidence, int | float) else None,
        )

    def warm_up(self, systems: Sequence[System]) -> None:
        self.search("预热", SERVED, 1)

    def _document(self, doc_id: str) -> dict[str, Any] | None:
        if doc_id not in self._docs:
            response = self.client.get(f"/v1/documents/{urllib.parse.quote(doc_id, safe='')}")
            if response.status_code == 404:
                self._docs[doc_id] = None
            elif response.status_code != 200:
                raise HttpError(f"GET document {doc_id}: HTTP {response.status_code}")
            else:
                self._docs[doc_id] = response.json()
        return self._docs[doc_id]

    def text(self, doc_id: str) -> str | None:
        doc = self._document(doc_id)
        return str(doc["text"]) if doc and "text" in doc else None

    def title(self, doc_id: str) -> str:
        doc = self._document(doc_id)
        return str(doc.get("title") or "") if doc else ""

    def source_id(self, doc_id: str) -> str | None:
        doc = self._document(doc_id)
        if not doc:
            return None
        meta = doc.get("metadata") or doc.get("meta") or {}
        source = meta.get("source_id") if isinstance(meta, dict) else None
        return str(source) if source else None

    def close(self) -> None:
        self.client.close()
