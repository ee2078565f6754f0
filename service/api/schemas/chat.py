"""Pydantic models for the OpenAI-compatible chat endpoint (``/v1/chat/completions``, ``/v1/models``).

Only the fields zhiwen uses are declared; other OpenAI request fields (``temperature``,
``max_tokens``, ``stream_options``…) are accepted and ignored so the official SDK works unchanged.
Responses add zhiwen's own top-level fields (``citations``, ``passages``, ``answerable``…), which
the SDK keeps as extra attributes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from service.answering.types import AnswerKind
from service.api.schemas import (
    FILTERS_DESCRIPTION,
    NOT_BLANK_PATTERN,
    AnswerShape,
    CitationOut,
    CuratedOut,
    Filters,
    GroupOut,
    Passage,
    integral,
)

# The question's length limit comes from Settings.max_question_chars and is checked by the route.

MAX_MESSAGES = 100


class TextPart(BaseModel):
    """One part of a multi-part message: ``{"type": "text", "text": "…"}``."""

    model_config = ConfigDict(extra="allow")

    type: Literal["text"]
    text: str


def _check_question(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be empty or whitespace-only")
    try:
        text.encode("utf-8")  # lone surrogates cannot be searched, nor sent back
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    return text


# Non-blank text; the pattern says so in the schema, the validators check it.
QuestionText = Annotated[str, Field(min_length=1, json_schema_extra={"pattern": NOT_BLANK_PATTERN})]


class _Message(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str | None = None
    content: str | Sequence[TextPart] | None = None

    @property
    def text(self) -> str:
        """The message's text: the string content, or its text parts joined."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(p.text for p in self.content)


class SystemMessage(_Message):
    role: Literal["system", "developer"]


class UserMessage(_Message):
    """A question. Its content must not be blank: the text, or its text parts joined (a blank
    part beside a question is fine, as the question is what is answered)."""

    role: Literal["user"]
    content: QuestionText | Annotated[
        list[TextPart],
        # the joined text is not blank: some part has a non-blank text (said in the schema too)
        Field(min_length=1, json_schema_extra={"contains": {"required": ["text"], "properties": {"text": {"pattern": NOT_BLANK_PATTERN}}}}),
    ]

    # "before": a blank or undecodable string is one error on `content`, not one per union branch
    @field_validator("content", mode="before")
    @classmethod
    def _not_blank(cls, content: object) -> object:
        return _check_question(content) if isinstance(content, str) else content

    @field_validator("content", mode="after")
    @classmethod
    def _parts_not_blank(cls, content: str | list[TextPart]) -> str | list[TextPart]:
        if not isinstance(content, str):
            _check_question("".join(p.text for p in content))
        return content


class AssistantTurn(_Message):
    role: Literal["assistant"]


class ToolMessage(_Message):
    role: Literal["tool"]


# The role picks the message type, so a bad role is one clear error naming the allowed roles.
ChatMessage = Annotated[
    SystemMessage | UserMessage | AssistantTurn | ToolMessage, Field(discriminator="role")
]


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str | None = Field(
        default=None, description="Any value; `zhiwen-llm` / `zhiwen-extractive` pick a composer."
    )
    messages: list[ChatMessage] = Field(
        min_length=1,
        max_length=MAX_MESSAGES,
        description="The conversation. The last user message is answered; earlier user "
        "messages resolve an elliptical follow-up. At least one user message is required.",
        # "at least one user message", stated in the schema so generated clients know it too
        json_schema_extra={
            "contains": {
                "type": "object",
                "properties": {"role": {"const": "user"}},
                "required": ["role"],
            }
        },
    )
    # strict, as /v1/ask and /v1/search: "yes" is not a bool, nor "5" a top_k
    stream: bool = Field(default=False, strict=True)
    top_k: Annotated[int, Field(ge=1, le=50, strict=True), BeforeValidator(integral)] | None = Field(
        default=None, description="zhiwen extension: passages to retrieve."
    )
    include_sources: bool = Field(
        default=True,
        strict=True,
        description="zhiwen extension: append the 来源 list to the assistant message text.",
    )
    filters: Filters | None = Field(
        default=None, description="zhiwen extension: " + FILTERS_DESCRIPTION[0].lower() + FILTERS_DESCRIPTION[1:])

    @field_validator("messages")
    @classmethod
    def _has_user_message(cls, messages: list[_Message]) -> list[_Message]:
        if not any(isinstance(m, UserMessage) for m in messages):
            raise ValueError("messages must contain at least one message with role 'user'")
        return messages

    @property
    def user_texts(self) -> list[str]:
        """The user messages' text, oldest first (each is non-blank)."""
        return [m.text.strip() for m in self.messages if isinstance(m, UserMessage)]


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop"] = "stop"


class Usage(BaseModel):
    """Counts in characters (zhiwen has no tokenizer at this edge); present for clients that
    expect the field."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ZhiwenExtras(AnswerShape):
    """zhiwen's own fields, on the completion and on the last stream chunk."""

    answer_id: str = Field(description="The answer's id for POST /v1/feedback (the completion id).")
    citations: list[CitationOut]
    passages: list[Passage]
    answerable: bool
    composer_used: str
    retrieval_query: str
    warnings: list[str] = Field(default_factory=list)
    took_ms: float
    curated: CuratedOut | None = Field(default=None, description="Set for a curated answer (FAQ).")


class ChatCompletion(ZhiwenExtras):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage


class Delta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None


class ChunkChoice(BaseModel):
    index: int = 0
    delta: Delta
    finish_reason: Literal["stop"] | None = None


class ChatCompletionChunk(BaseModel):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    # Only on the last chunk (the one with finish_reason "stop"). `answer` is the final assistant
    # message; it differs from the streamed deltas only when validation revised an LLM draft.
    answer: str | None = None
    answer_id: str | None = None
    citations: list[CitationOut] | None = None
    passages: list[Passage] | None = None
    answerable: bool | None = None
    composer_used: str | None = None
    retrieval_query: str | None = None
    warnings: list[str] | None = None
    took_ms: float | None = None
    curated: CuratedOut | None = None
    # the answer's shape (AnswerShape), as on the completion: the chat page groups list answers
    # and shows question_places as its automatic chips from these
    answer_kind: AnswerKind | None = None
    groups: list[GroupOut] | None = None
    question_places: list[str] | None = None
    filtered_out: bool | None = None


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "zhiwen"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]
