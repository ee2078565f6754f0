"""LLM answers through any OpenAI-compatible Chat Completions endpoint, validated before use.

:class:`LLMComposer` renders the prompts in ``prompts/`` (numbered, delimited passages), asks the
model, then keeps only the sentences its cited passages support (:mod:`.validate`). Whatever goes
wrong on the LLM side — timeout, connection error, HTTP error, empty output, no supported
sentence — the answer comes from the fallback composer instead, with a warning saying why; the
LLM failing never raises to the caller.

Warnings (``Answer.warnings``), each ``"<code>: <detail>"``:

* fallbacks: ``llm_timeout``, ``llm_connection_error``, ``llm_http_error``, ``llm_error``,
  ``llm_incomplete`` (stream ended without text or finish reason), ``llm_empty``,
  ``llm_unsupported``, ``llm_validation_error``, ``llm_skipped`` (no passages);
* on an LLM answer: ``llm_sentences_removed`` (unsupported sentences dropped from the text; their
  citations stay, ``supported=False``), ``llm_markers_dropped`` (``[n]`` pointing at no passage),
  ``llm_stream_interrupted`` (the stream broke after some text; the answer is what arrived),
  ``llm_truncated`` (the reply hit ``max_tokens``; a cut-off last sentence has no marker and is
  removed).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from indexer.types import Hit, Report
from service.answering.prompting import build_messages, numbered_passages
from service.answering.reply import ThinkFilter, strip_think
from service.answering.types import NOT_FOUND, Answer, Composer
from service.answering.validate import Passage, Validation, validate_answer

if TYPE_CHECKING:
    from openai import OpenAI, Stream
    from openai.types.chat import ChatCompletionChunk, ChatCompletionMessageParam

__all__ = ["LLMComposer", "make_llm_composer"]

logger = logging.getLogger(__name__)

# Local servers (vLLM, Ollama, llama.cpp) ignore the key, but the openai client insists on one —
# and would otherwise read OPENAI_API_KEY from the environment; library code takes explicit
# arguments only.
_NO_KEY = "EMPTY"
_ERROR_DETAIL_CHARS = 200


class _LLMFailure(Exception):
    """An LLM call failed; ``warning`` is the ``"<code>: <detail>"`` string for the answer."""

    def __init__(self, warning: str) -> None:
        super().__init__(warning)
        self.warning = warning


class LLMComposer:
    """Composes fluent, cited Chinese answers with an LLM; falls back to ``fallback`` on failure.

    ``timeout_s`` bounds every network wait (connect, time to first byte and, when streaming,
    the gap between chunks); there are no retries by default, so a dead endpoint costs at most
    ``timeout_s`` before the fallback answers. Constructing is cheap: the client is created on
    first use, and is safe to share between threads.
    """

    name = "llm"

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None,
        timeout_s: float,
        fallback: Composer,
        temperature: float = 0.1,
        max_tokens: int = 1024,
        max_passages: int = 8,
        max_retries: int = 0,
    ) -> None:
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s}")
        if max_passages < 1:
            raise ValueError(f"max_passages must be at least 1, got {max_passages}")
        self.base_url = base_url
        self.model = model
        self.timeout_s = timeout_s
        self.fallback = fallback
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.max_passages = max_passages
        self.max_retries = max_retries
        self._api_key = api_key or _NO_KEY
        self._client: OpenAI | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # never shows the API key
        return (
            f"LLMComposer(base_url={self.base_url!r}, model={self.model!r}, "
            f"timeout_s={self.timeout_s}, fallback={getattr(self.fallback, 'name', '?')!r})"
        )

    # --- public API --------------------------------------------------------------------------

    def compose(self, question: str, hits: Sequence[Hit], reports: Mapping[str, Report]) -> Answer:
        """Answer ``question`` from ``hits``; never raises because the LLM failed."""
        passages = numbered_passages(hits[: self.max_passages], reports)
        if not passages:
            return self._fall_back(
                question, hits, reports, "llm_skipped: no passages to answer from"
            )
        try:
            reply, finish_reason = self._complete(build_messages(question, passages))
        except _LLMFailure as failure:
            return self._fall_back(question, hits, reports, failure.warning)
        answer = self._finish(question, hits, reports, passages, reply)
        return _note_truncation(answer, finish_reason, self.max_tokens)

    def stream(
        self, question: str, hits: Sequence[Hit], reports: Mapping[str, Report]
    ) -> Generator[str | Answer, None, None]:
        """Yield the model's text deltas as they arrive, then the validated :class:`Answer`.

        The final Answer is authoritative: validation may remove sentences the deltas showed,
        so a client replaces the streamed draft by ``Answer.text``. When the stream fails before
        any text, the fallback answer's text is yielded as one delta, then that Answer.
        """
        passages = numbered_passages(hits[: self.max_passages], reports)
        if not passages:
            yield from self._stream_fallback(
                question, hits, reports, "llm_skipped: no passages to answer from"
            )
            return
        try:
            messages = build_messages(question, passages)
            chunks = self._open_stream(messages)
        except _LLMFailure as failure:
            yield from self._stream_fallback(question, hits, reports, failure.warning)
            return

        think = ThinkFilter()
        shown: list[str] = []
        interrupted: str | None = None
        try:
            for delta in chunks:
                visible = think.feed(delta)
                if visible:
                    shown.append(visible)
                    yield visible
            tail = think.flush()
            if tail:
                shown.append(tail)
                yield tail
        except _LLMFailure as failure:
            if not "".join(shown).strip():
                yield from self._stream_fallback(question, hits, reports, failure.warning)
                return
            received = len("".join(shown))
            interrupted = f"llm_stream_interrupted: after {received} characters ({failure.warning})"
            logger.warning("LLM stream interrupted: %s", interrupted)
        finally:
            chunks.close()

        answer = self._finish(question, hits, reports, passages, "".join(shown))
        answer = _note_truncation(answer, chunks.finish_reason, self.max_tokens)
        if interrupted is not None:
            answer = replace(answer, warnings=(*answer.warnings, interrupted))
        if answer.composer != self.name and not "".join(shown).strip():
            yield answer.text
        yield answer

    def close(self) -> None:
        """Close the HTTP connection pool (the next call opens a new one)."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    # --- LLM calls ---------------------------------------------------------------------------

    def _get_client(self) -> OpenAI:
        with self._lock:
            if self._client is None:
                from openai import OpenAI

                self._client = OpenAI(
                    base_url=self.base_url,
                    api_key=self._api_key,
                    timeout=self.timeout_s,
                    max_retries=self.max_retries,
                )
            return self._client

    def _create(self, messages: list[dict[str, str]], *, stream: bool) -> Any:
        """One chat-completions request with this client's model and sampling settings."""
        return self._get_client().chat.completions.create(
            model=self.model,
            messages=_as_params(messages),
            temperature=self.temperature,
            max_tokens=self.max_tokens,
            stream=stream,
        )

    def _complete(self, messages: list[dict[str, str]]) -> tuple[str, str | None]:
        """The reply's text and finish reason."""
        import openai

        try:
            response = self._create(messages, stream=False)
            if not response.choices:
                return "", None
            choice = response.choices[0]
            return choice.message.content or "", choice.finish_reason
        except openai.OpenAIError as exc:
            raise _LLMFailure(self._describe(exc)) from exc
        except (AttributeError, TypeError, ValueError) as exc:
            # A server that answers 200 with something other than a chat completion.
            raise _LLMFailure(f"llm_error: malformed response: {_short(exc)}") from exc

    def _open_stream(self, messages: list[dict[str, str]]) -> _DeltaStream:
        import openai

        try:
            stream = self._create(messages, stream=True)
        except openai.OpenAIError as exc:
            raise _LLMFailure(self._describe(exc)) from exc
        return _DeltaStream(stream, self._describe)

    def _describe(self, exc: BaseException) -> str:
        import openai

        if isinstance(exc, openai.APITimeoutError):
            return f"llm_timeout: no reply from {self.model!r} within {self.timeout_s:g} s"
        if isinstance(exc, openai.APIConnectionError):
            cause = exc.__cause__ or exc
            return f"llm_connection_error: cannot reach {self.base_url}: {_short(cause)}"
        if isinstance(exc, openai.APIStatusError):
            return f"llm_http_error: HTTP {exc.status_code} from {self.base_url}: {_short(exc)}"
        return f"llm_error: {type(exc).__name__}: {_short(exc)}"

    # --- answers -----------------------------------------------------------------------------

    def _finish(
        self,
        question: str,
        hits: Sequence[Hit],
        reports: Mapping[str, Report],
        passages: Sequence[Passage],
        reply: str,
    ) -> Answer:
        text = strip_think(reply).strip()
        if not text:
            return self._fall_back(question, hits, reports, "llm_empty: the model returned no text")
        try:
            validation = validate_answer(text, passages)
        except Exception as exc:  # an odd reply must not break answering; log it loudly
            logger.exception("validating the LLM reply failed")
            return self._fall_back(
                question, hits, reports, f"llm_validation_error: {type(exc).__name__}: {exc}"
            )
        _log_checks(validation)
        if validation.supported_count == 0:
            if validation.not_found:
                return Answer(
                    text=NOT_FOUND,
                    answerable=False,
                    citations=(),
                    passages=tuple(hits),
                    composer=self.name,
                )
            total = len(validation.checks)
            return self._fall_back(
                question,
                hits,
                reports,
                f"llm_unsupported: none of the {total} sentence(s) of the reply is supported "
                "by the passages it cites",
            )
        return Answer(
            text=validation.text,
            answerable=True,
            citations=validation.citations,
            passages=tuple(hits),
            composer=self.name,
            warnings=_validation_warnings(validation),
        )

    def _fall_back(
        self, question: str, hits: Sequence[Hit], reports: Mapping[str, Report], warning: str
    ) -> Answer:
        logger.warning(
            "LLM answer unavailable, using %s composer: %s",
            getattr(self.fallback, "name", "fallback"),
            warning,
        )
        answer = self.fallback.compose(question, hits, reports)
        return replace(answer, warnings=(warning, *answer.warnings))

    def _stream_fallback(
        self, question: str, hits: Sequence[Hit], reports: Mapping[str, Report], warning: str
    ) -> Iterator[str | Answer]:
        answer = self._fall_back(question, hits, reports, warning)
        if answer.text:
            yield answer.text
        yield answer


def make_llm_composer(
    base_url: str, model: str, api_key: str | None, timeout_s: float, fallback: Composer
) -> LLMComposer:
    """Build the LLM composer from settings (the service passes ``ZHIWEN_LLM_*`` values)."""
    return LLMComposer(
        base_url=base_url, model=model, api_key=api_key, timeout_s=timeout_s, fallback=fallback
    )


# --- helpers ---------------------------------------------------------------------------------


class _DeltaStream:
    """Text deltas of a streamed chat completion; failures surface as :class:`_LLMFailure`,
    including a stream that ends without a finish reason (the connection dropped)."""

    def __init__(
        self, stream: Stream[ChatCompletionChunk], describe: Callable[[BaseException], str]
    ) -> None:
        self._stream = stream
        self._describe = describe
        self.finish_reason: str | None = None

    def __iter__(self) -> Iterator[str]:
        import openai

        try:
            for chunk in self._stream:
                if not chunk.choices:
                    continue  # e.g. a final usage-only chunk
                choice = chunk.choices[0]
                if choice.finish_reason:
                    self.finish_reason = choice.finish_reason
                if choice.delta.content:
                    yield choice.delta.content
        except openai.OpenAIError as exc:
            raise _LLMFailure(self._describe(exc)) from exc
        except (AttributeError, TypeError, ValueError) as exc:
            raise _LLMFailure(f"llm_error: malformed stream: {_short(exc)}") from exc
        if self.finish_reason is None:
            raise _LLMFailure("llm_incomplete: the stream ended before the model finished")

    def close(self) -> None:
        self._stream.close()


def _as_params(messages: list[dict[str, str]]) -> list[ChatCompletionMessageParam]:
    return messages  # type: ignore[return-value]  # {"role", "content"} dicts are valid params


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= _ERROR_DETAIL_CHARS else text[: _ERROR_DETAIL_CHARS - 1] + "…"


def _note_truncation(answer: Answer, finish_reason: str | None, max_tokens: int) -> Answer:
    if finish_reason != "length":
        return answer
    warning = f"llm_truncated: the reply reached max_tokens={max_tokens}"
    return replace(answer, warnings=(*answer.warnings, warning))


def _log_checks(validation: Validation) -> None:
    for check in validation.checks:
        if not check.supported:
            logger.info("LLM sentence removed (%s): %s", check.reason, check.sentence.text)


def _validation_warnings(validation: Validation) -> tuple[str, ...]:
    warnings: list[str] = []
    removed = validation.removed
    if removed:
        reasons = "; ".join(sorted({c.reason.split(" ")[0] for c in removed}))
        warnings.append(
            f"llm_sentences_removed: {len(removed)} of {len(validation.checks)} sentence(s) "
            f"had no support ({reasons})"
        )
    if validation.dropped_markers:
        markers = ", ".join(f"[{n}]" for n in validation.dropped_markers)
        warnings.append(f"llm_markers_dropped: {markers} point at no passage that supports them")
    return tuple(warnings)
