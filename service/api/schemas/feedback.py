"""Pydantic models of ``/v1/feedback``: the rating (and correction) of one answer, and the list.

Length limits that come from settings (``max_feedback_chars``, ``max_question_chars``) are checked
by the route and written into the OpenAPI schema by the app, as for ``/v1/ask``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from service.api.schemas import NOT_BLANK_PATTERN, QueryText, _not_blank, _Request
from service.feedback import CitedSpan, Feedback

ANSWER_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
MAX_DOC_ID_CHARS = 200

# Non-blank text; its upper bound comes from settings (see the module docstring).
FeedbackText = Annotated[
    str, Field(min_length=1, json_schema_extra={"pattern": NOT_BLANK_PATTERN}),
    AfterValidator(_not_blank),
]


def _some_fields_no_nulls(schema: dict[str, Any]) -> None:
    """Say in the schema what the validators check: at least one field, and no field null
    (leave a field out instead)."""
    schema["minProperties"] = 1
    for prop in schema.get("properties", {}).values():
        branches = [b for b in prop.pop("anyOf", []) if b.get("type") != "null"]
        if len(branches) == 1:
            prop.update(branches[0])
        prop.pop("default", None)


class FeedbackCorrection(_Request):
    """What is right instead: the answer text, and/or the report and passage that hold it.
    At least one field; a field not given is left out (not null)."""

    model_config = ConfigDict(json_schema_extra=_some_fields_no_nulls)

    answer: FeedbackText | None = Field(default=None, description="The right answer, as text.")
    doc_id: Annotated[str, Field(min_length=1, max_length=MAX_DOC_ID_CHARS)] | None = Field(
        default=None, description="The report that holds the right answer (GET /v1/documents)."
    )
    quote: FeedbackText | None = Field(
        default=None, description="The passage of that report that holds it, word for word.")

    @field_validator("answer", "doc_id", "quote", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise PydanticCustomError(
                "string_type", "Input should be a valid string (leave the field out instead of null)")
        return value

    @model_validator(mode="after")
    def _something(self) -> FeedbackCorrection:
        if not (self.answer or self.doc_id or self.quote):
            raise ValueError("a correction needs at least one of answer, doc_id, quote")
        return self


class FeedbackRequest(_Request):
    """A 👍 or 👎 on one answer, with an optional correction and comment."""

    answer_id: Annotated[str, Field(pattern=ANSWER_ID_PATTERN)] = Field(
        description="The `answer_id` of a /v1/ask or chat completion response.")
    rating: Literal["up", "down"]
    correction: FeedbackCorrection | None = None
    comment: FeedbackText | None = Field(default=None, description="Free text for the reviewers.")
    question: QueryText | None = Field(
        default=None,
        description="The question answered. Needed only when the server no longer remembers "
        "`answer_id` (it keeps the most recent answers); ignored when it does.",
    )
    answer: FeedbackText | None = Field(
        default=None, description="The answer given, with `question` (for an answer the server "
        "no longer remembers).")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"answer_id": "3f1c9a0e5b7d4c2a8e6f1b3d5c7a9e0f", "rating": "down",
                          "correction": {"answer": "172处"}}]
        }
    )


class FeedbackCreated(BaseModel):
    feedback_id: int = Field(description="Id of the stored feedback.")
    answer_id: str
    created_at: str = Field(description="When it was stored (ISO 8601, UTC).")
    kb: str = Field(description="The knowledge base it was stored under (`?kb=`).")


class CitedSpanOut(BaseModel):
    n: int
    doc_id: str
    start: int
    end: int
    quote: str

    @classmethod
    def from_span(cls, c: CitedSpan) -> CitedSpanOut:
        return cls(n=c.n, doc_id=c.doc_id, start=c.start, end=c.end, quote=c.quote)


class CorrectionOut(BaseModel):
    answer: str | None = None
    doc_id: str | None = None
    quote: str | None = None


class FeedbackOut(BaseModel):
    feedback_id: int
    answer_id: str
    question: str
    answer: str
    answerable: bool | None = Field(description="Whether the answer answered (false: it refused); "
                                    "null when the server did not remember it.")
    citations: list[CitedSpanOut]
    index_version: str = Field(description="The index snapshot that answered.")
    rating: Literal["up", "down"]
    correction: CorrectionOut | None
    comment: str | None
    created_at: str
    kb: str = Field(description="The knowledge base of the answer.")

    @classmethod
    def from_feedback(cls, fb: Feedback) -> FeedbackOut:
        c = fb.correction
        return cls(
            feedback_id=fb.feedback_id, answer_id=fb.answer_id, question=fb.question,
            answer=fb.answer, answerable=fb.answerable,
            citations=[CitedSpanOut.from_span(s) for s in fb.citations],
            index_version=fb.index_version, rating=fb.rating,
            correction=None if c is None else CorrectionOut(answer=c.answer, doc_id=c.doc_id,
                                                            quote=c.quote),
            comment=fb.comment, created_at=fb.created_at, kb=fb.kb,
        )


class FeedbackList(BaseModel):
    feedback: list[FeedbackOut] = Field(description="Newest first.")
    count: int
