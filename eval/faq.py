"""`zhiwen fit-faq`: choose how close a question must be to a curated one to get its answer.

zhiwen fit-faq [--data eval/data/faq_paraphrases.jsonl] [--seed 0] [--out FILE]

The data: curated questions, each with paraphrases (asked differently, same answer) and hard
negatives (about the same place or thing, another answer). Half the curated questions fit the
threshold, the other half is held out and only reported. Each asked question is matched against
*all* curated questions, as in the service. A wrong curated answer is worse than none (the
question then goes to the reports), so the threshold is the lowest that accepts no wrong match
on the fitting half; the held-out half says what that gives on questions it never saw.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from embeddings import Embedder

log = logging.getLogger(__name__)

DEFAULT_DATA = Path("eval/data/faq_paraphrases.jsonl")
MARGIN = 0.005  # above the closest wrong match of the fitting half


@dataclass(frozen=True)
class Scored:
    similarity: float  # to the closest curated question
    right: bool  # a paraphrase matched to its own curated question
    paraphrase: bool  # (False: a hard negative, which no curated answer fits)


@dataclass(frozen=True)
class Split:
    asked: int
    paraphrases: int
    accepted: int
    right: int

    @property
    def precision(self) -> float:
        return self.right / self.accepted if self.accepted else 1.0

    @property
    def recall(self) -> float:
        return self.right / self.paraphrases if self.paraphrases else 0.0


def halves(items: list[dict[str, Any]], seed: int) -> tuple[set[str], set[str]]:
    """Curated question ids split in two by a seeded hash: (fit, held out)."""
    ranked = sorted(items, key=lambda i: hashlib.sha256(f"{seed}:{i['id']}".encode()).hexdigest())
    ids = [i["id"] for i in ranked]
    return set(ids[: len(ids) // 2]), set(ids[len(ids) // 2 :])


def score(items: list[dict[str, Any]], embedder: Embedder) -> dict[str, list[Scored]]:
    """Each asked question's closest curated question, per curated id."""
    curated = np.asarray(embedder.encode_queries([i["question"] for i in items]), np.float32)
    out: dict[str, list[Scored]] = {}
    for k, item in enumerate(items):
        asked = [(q, True) for q in item["paraphrases"]] + [(q, False) for q in item["negatives"]]
        vectors = np.asarray(embedder.encode_queries([q for q, _ in asked]), np.float32)
        sims = vectors @ curated.T
        out[item["id"]] = [Scored(float(row.max()), bool(para and int(row.argmax()) == k), para)
                           for row, (_, para) in zip(sims, asked, strict=True)]
    return out


def evaluate(rows: list[Scored], threshold: float) -> Split:
    accepted = [r for r in rows if r.similarity >= threshold]
    return Split(len(rows), sum(r.paraphrase for r in rows), len(accepted), sum(r.right for r in accepted))


def fit(items: list[dict[str, Any]], embedder: Embedder, seed: int = 0) -> dict[str, Any]:
    fit_ids, held_ids = halves(items, seed)
    scored = score(items, embedder)
    fitting = [r for i in fit_ids for r in scored[i]]
    held = [r for i in held_ids for r in scored[i]]
    wrong = [r.similarity for r in fitting if not r.right]
    threshold = round(min(max(wrong, default=0.9) + MARGIN, 0.999), 4)
    return {
        "threshold": threshold,
        "model": embedder.name,
        "seed": seed,
        "rule": "lowest cosine accepting no wrong match on the fitting half, plus a margin of 0.005",
        "fit": {**asdict(evaluate(fitting, threshold)), "precision": round(evaluate(fitting, threshold).precision, 3),
                "recall": round(evaluate(fitting, threshold).recall, 3)},
        "held_out": {**asdict(evaluate(held, threshold)), "precision": round(evaluate(held, threshold).precision, 3),
                     "recall": round(evaluate(held, threshold).recall, 3)},
    }


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("fit-faq", help="fit the curated-answer threshold on held-out paraphrases",
                              description=__doc__.split("\n\n", 2)[2] if __doc__ else None)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help=f"paraphrase file ({DEFAULT_DATA})")
    p.add_argument("--seed", type=int, default=0, help="which half fits (0)")
    p.add_argument("--model", default=None, help="embedding model (default: the configured one)")
    p.add_argument("--out", type=Path, default=None, help="threshold file (default: the packaged one)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from embeddings import load_embedder
    from service.answering.faq import THRESHOLD_FILE

    items = [json.loads(line) for line in args.data.read_text(encoding="utf-8").splitlines() if line.strip()]
    embedder = load_embedder(args.model or args.settings.model, cache_path=None)
    result = fit(items, embedder, args.seed)
    out = args.out or THRESHOLD_FILE
    out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    held = result["held_out"]
    print(f"threshold {result['threshold']} -> {out}; held out: precision {held['precision']:.3f}, "
          f"recall {held['recall']:.3f} ({held['right']} of {held['paraphrases']} paraphrases answered, "
          f"{held['accepted'] - held['right']} wrong of {held['asked']} asked)")
    return 0
