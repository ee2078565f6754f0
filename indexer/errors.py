"""What can go wrong with an index or a change to it; every message names the file or document
and what to do.

* :class:`IndexLoadError`: an index (snapshot) cannot be served.
* :class:`UpdateError` and its kinds: a change to the corpus that cannot be made (nothing was
  stored); ``code`` is stable for API clients.
"""

from __future__ import annotations


class IndexLoadError(RuntimeError):
    """The index cannot be served; the message names the file and shows expected vs found."""


class UpdateError(Exception):
    """A change that cannot be made; nothing was stored."""

    code = "update_failed"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidDocument(UpdateError):
    code = "invalid_document"


class NotText(UpdateError):
    code = "unsupported_media_type"


class DocumentExists(UpdateError):
    code = "document_exists"


class DocumentNotFound(UpdateError):
    code = "not_found"


class DocumentConflict(UpdateError):
    code = "conflict"


class IndexMismatch(UpdateError):
    code = "index_mismatch"


class CorpusUnavailable(UpdateError):
    code = "corpus_unavailable"
