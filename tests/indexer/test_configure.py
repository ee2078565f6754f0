"""Knowledge-base names and their Milvus collection prefixes: one to one, both ways, so a node
can list the bases another node made from the collections alone."""

from __future__ import annotations

import pytest

from indexer.configure import kb_collection_prefix, kb_of_collection_prefix


@pytest.mark.parametrize("name", ["alpha", "a_b", "a-b", "a__--_x", "0", "a_", "x-", "b_d", "kb_x"])
def test_a_name_comes_back_from_its_prefix(name: str) -> None:
    assert kb_of_collection_prefix("zhiwen", kb_collection_prefix("zhiwen", name)) == name


def test_two_names_never_share_a_prefix() -> None:
    names = ["a_d", "a-", "a__", "a_", "a-d", "a_dd"]
    assert len({kb_collection_prefix("zhiwen", n) for n in names}) == len(names)


@pytest.mark.parametrize("store", ["zhiwen", "other_kb_alpha", "zhiwen_kb_", "zhiwen_kb_a_x",
                                   "zhiwen_kb_alpha_kb_beta", "zhiwen_kbalpha"])
def test_a_store_that_is_no_knowledge_base_gives_none(store: str) -> None:
    assert kb_of_collection_prefix("zhiwen", store) is None
