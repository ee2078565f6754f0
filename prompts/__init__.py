"""Prompt templates as data: Jinja2 files rendered in a sandbox with declared variables.

Each template in this folder (``<name>.j2``) declares the variables it takes in
:data:`TEMPLATE_VARIABLES`; :func:`render_prompt` refuses a missing or an undeclared variable and
names it. Rendering runs in :class:`jinja2.sandbox.SandboxedEnvironment` with
:class:`jinja2.StrictUndefined`, and every interpolated string passes through
:func:`neutralise_markup`, so report text cannot close a ``<passage>`` tag or smuggle chat-template
control tokens into the prompt (see ``prompts/README.md``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jinja2 import Template
    from jinja2.sandbox import SandboxedEnvironment

__all__ = [
    "PROMPTS_DIR",
    "TEMPLATE_VARIABLES",
    "PromptError",
    "PromptVariableError",
    "load_templates",
    "neutralise_markup",
    "render_prompt",
]

PROMPTS_DIR = Path(__file__).resolve().parent

# The variables each template takes. load_templates() checks these against what the template
# actually references, so the declaration and the file cannot drift apart.
TEMPLATE_VARIABLES: Mapping[str, frozenset[str]] = {
    "system.zh": frozenset({"not_found"}),
    "user.zh": frozenset({"question", "passages", "not_found"}),
}

# Tags the templates use as delimiters, and the control tokens of common chat templates
# (ChatML <|im_start|>, Llama-3 <|eot_id|>, DeepSeek <｜end▁of▁sentence｜> …). Inside report text
# or a question they are neutralised: the angle brackets become look-alike full-width brackets,
# so the model still sees the characters but never a delimiter or a special token.
_DELIMITER_TAG = re.compile(r"<\s*/?\s*(?:passages?|question|system|user|assistant)\b[^<>]*>", re.I)
_CONTROL_TOKEN = re.compile(r"<\s*[|｜][^<>]{0,40}?[|｜]\s*>")


class PromptError(Exception):
    """A template cannot be loaded or rendered."""


class PromptVariableError(PromptError):
    """A variable is missing, undeclared or undefined while rendering; the message names it."""

    def __init__(self, template: str, variable: str, problem: str) -> None:
        super().__init__(f"prompt {template!r}: {problem} variable {variable!r}")
        self.template = template
        self.variable = variable
        self.problem = problem


def _angle_to_fullwidth(match: re.Match[str]) -> str:
    return match.group(0).replace("<", "＜").replace(">", "＞")


def neutralise_markup(text: str) -> str:
    """Defuse prompt delimiters and chat control tokens that appear inside data.

    ``</passage>`` becomes ``＜/passage＞`` and ``<|im_end|>`` becomes ``＜|im_end|＞``; all other
    text (including ordinary ``<`` and ``>``) is left as it is.
    """
    text = _DELIMITER_TAG.sub(_angle_to_fullwidth, text)
    return _CONTROL_TOKEN.sub(_angle_to_fullwidth, text)


def _finalize(value: Any) -> Any:
    # Runs on every {{ … }} output: data never reaches the prompt un-neutralised.
    return neutralise_markup(value) if isinstance(value, str) else value


@lru_cache(maxsize=1)
def _environment() -> SandboxedEnvironment:
    from jinja2 import FileSystemLoader, StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment(
        loader=FileSystemLoader(str(PROMPTS_DIR)),
        undefined=StrictUndefined,
        finalize=_finalize,
        autoescape=False,  # plain-text prompts; delimiters are handled by _finalize
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )


@lru_cache(maxsize=1)
def load_templates() -> dict[str, Template]:
    """Load and check every declared template; raises :class:`PromptError` when a template is
    missing or references a variable it does not declare."""
    from jinja2 import TemplateError, meta

    env = _environment()
    templates: dict[str, Template] = {}
    for name, declared in TEMPLATE_VARIABLES.items():
        filename = f"{name}.j2"
        path = PROMPTS_DIR / filename
        try:
            source = path.read_text(encoding="utf-8")
            referenced = meta.find_undeclared_variables(env.parse(source))
            template = env.get_template(filename)
        except (OSError, TemplateError) as exc:
            raise PromptError(f"prompt {name!r}: cannot load {path}: {exc}") from exc
        undeclared = sorted(referenced - declared)
        if undeclared:
            raise PromptVariableError(name, undeclared[0], "template uses undeclared")
        templates[name] = template
    return templates


def render_prompt(name: str, /, **variables: Any) -> str:
    """Render template ``name`` (e.g. ``"user.zh"``) with exactly its declared variables.

    Raises :class:`PromptVariableError` naming the variable when one is missing, not declared, or
    (for attributes of a variable, e.g. ``passage.title``) undefined during rendering.
    """
    from jinja2 import TemplateError, UndefinedError

    templates = load_templates()
    if name not in templates:
        known = ", ".join(sorted(templates))
        raise PromptError(f"unknown prompt {name!r} (known: {known})")
    declared = TEMPLATE_VARIABLES[name]
    missing = sorted(declared - variables.keys())
    if missing:
        raise PromptVariableError(name, missing[0], "missing")
    extra = sorted(variables.keys() - declared)
    if extra:
        raise PromptVariableError(name, extra[0], "undeclared")
    try:
        return templates[name].render(**variables)
    except UndefinedError as exc:
        # StrictUndefined's message already names the attribute, e.g. "'dict object' has no
        # attribute 'title'"; keep it so the error says what was undefined.
        raise PromptVariableError(name, _undefined_name(str(exc)), "undefined") from exc
    except TemplateError as exc:
        raise PromptError(f"prompt {name!r}: {exc}") from exc


def _undefined_name(message: str) -> str:
    found = re.findall(r"'([^']+)'", message)
    return found[-1] if found else message
