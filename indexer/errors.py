"""What can go wrong with an index or a change to it; every message names the file or document
and what to do.

* :class:`IndexLoadError`: an index (snapshot) cannot be served.
* :class:`BackendUnavailable`: the engine holding the index (Milvus) cannot be reached.
* :class:`WriterBusy`: another write holds the index.
* :class:`UpdateError` and its kinds: a change to the corpus that cannot be made (nothing was
  stored); ``code`` is stable for API clients.
"""

from __future__ import annotations


class IndexLoadError(RuntimeError):
    """The index cannot be served; the message names the file and shows expected vs found."""


class BackendUnavailable(RuntimeError):
    """The search engine holding the index (Milvus) did not answer; the message names it. The
    index is fine: the engine may come back."""


class WriterBusy(RuntimeError):
    """Another writer holds the index (its lock, or this process's write in flight) for longer
    than the caller waits (HTTP 409 ``write_in_progress``)."""


class UpdateError(Exception):
    """A change that cannot be made; nothing was stored."""

    code = "update_failed"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidDocument(UpdateError):
    """A doc_id or upload that is malformed or empty (HTTP 422)."""

    code = "invalid_document"


class NotText(UpdateError):
    """An upload that is not text in a known encoding (HTTP 415)."""

    code = "unsupported_media_type"


class TooLarge(UpdateError):
    """An upload over a configured limit: bytes, PDF pages, image pixels (HTTP 413)."""

    code = "payload_too_large"


class DocumentExists(UpdateError):
    """An add of a doc_id that exists already; replace it instead (HTTP 409)."""

    code = "document_exists"


class DocumentNotFound(UpdateError):
    """A change to a doc_id the corpus does not hold (HTTP 404)."""

    code = "not_found"


class DocumentConflict(UpdateError):
    """A report id that belongs to another file, or one report of a multi-report file (HTTP 409)."""

    code = "conflict"


class IndexMismatch(UpdateError):
    """The index was built with other parameters or another model than configured (HTTP 409)."""

    code = "index_mismatch"


class CorpusUnavailable(UpdateError):
    """The corpus folder the index is derived from is missing (HTTP 503)."""

    code = "corpus_unavailable"


class NothingToIndex(UpdateError):
    """No file of the corpus folder yields a report (none, or none readable); nothing written."""

    code = "nothing_to_index"
