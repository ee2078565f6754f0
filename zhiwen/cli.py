"""The ``zhiwen`` command: an argparse dispatcher over the subcommands each package registers.

Each command module (``indexer.cli``: index, ``service.cli``: serve/ask, ``eval.cli``: eval)
exposes ``register(subparsers)`` and imports only argparse at module level, so ``zhiwen --help``
answers instantly; the work (and torch) is imported by the command that runs. Settings are read
once here and handed to the command as ``args.settings``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

log = logging.getLogger(__name__)

COMMAND_MODULES = ("indexer.cli", "service.cli", "eval.cli", "eval.fit", "eval.faq")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("zhiwen")
    except PackageNotFoundError:
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="zhiwen",
        description="知问 — question answering with span citations over Chinese reports. "
        "Configure with ZHIWEN_* environment variables (see README).",
    )
    parser.add_argument("--version", action="version", version=f"zhiwen {_version()}")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="debug logging (default: ZHIWEN_LOG_LEVEL)"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # a missing dependency inside it is a real error
                raise
            log.debug("command module %s is not installed; skipped", name)
            continue
        module.register(subparsers)
    return parser


# Our packages log at the configured level; libraries (faiss, sentence-transformers, ...) only
# say something at WARNING and above unless --verbose.
OWN_LOGGERS = ("zhiwen", "embeddings", "indexer", "service", "eval", "prompts")


def _configure_logging(level: str, verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else level.upper())


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    from pydantic import ValidationError

    from zhiwen.settings import describe_errors, get_settings

    try:
        settings = get_settings()
    except ValidationError as exc:
        sys.stderr.write(f"error: invalid ZHIWEN_* configuration:\n{describe_errors(exc)}\n")
        return 2
    _configure_logging(settings.log_level, args.verbose)
    args.settings = settings
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
