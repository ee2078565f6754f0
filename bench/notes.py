"""Hand-written findings appended to docs/benchmarks.md: what the numbers alone don't say."""

NOTES = """
## Findings and what to change

**A busy machine.** The figures above were taken while other jobs shared the 2 cores (the load
average at the start of each benchmark is printed under it; 8–14 means each runnable thread got a
fraction of a core). Absolute times are inflated accordingly and vary from run to run; every
target is therefore a ratio of measurements interleaved in the same run (served vs floor
question by question, int8 vs fp32 block by block, bare encode before and after the build).

**OpenMP threads on a busy machine.** One query is too little work to split across threads, and
when a second OpenMP thread is descheduled the first waits for it at every fork/join. Measured
here under load: a single FAISS exact search over 10,000 vectors took 48–61 ms with 2 OpenMP
threads and 0.48 ms with 1; a single query encode (m3e-small, torch) took 1,460 ms with
`torch.set_num_threads(2)` and 82 ms with 1, in the main thread. The service answers one query per
request and gets its parallelism from the threadpool across requests, so it should pin both
libraries to one thread each when it loads the engine (`service/kb.py:load_engine` or the
lifespan): `torch.set_num_threads(1)` and `faiss.omp_set_num_threads(1)`, ideally behind a setting
(`ZHIWEN_TORCH_THREADS`, default 1). With 8 concurrent clients on 2 cores this also avoids
8 × 2 OpenMP threads competing for 2 cores. Index building keeps all cores (large batches).

**Indexing does more model work than the chunks.** The index now stores a vector for every
sentence (`sentences.npy`, small-to-big scoring), so `build_index` sends the chunk texts *and* each
distinct sentence to the model — several times more texts than chunks. Against bare encoding of
the chunk texts alone the build cannot reach 0.9×; against bare encoding of everything it embeds
the pipeline overhead (reading, cleaning, chunking, jieba, BM25, FAISS, SQLite cache) is small.
To close the chunk-only gap: compute sentence vectors from the chunk's own forward pass (mean of
the token states inside each sentence's span — one model call per chunk instead of one per
chunk plus one per sentence), or embed sentences with the int8 backend. Smaller win: `embed_chunks`
hands the model 64 texts at a time, so length-sorting (which keeps padding low) works within 64
texts only; sorting all texts by length once before batching recovers some throughput.

**int8.** `load_embedder(model, backend="onnx-int8")` is a drop-in `Embedder`; its name is
`m3e-small@onnx-int8`, so an index built with fp32 refuses to load with it (and vice versa) and
the embedding cache keeps the two apart. To offer it in the product: a setting
`ZHIWEN_EMBEDDING_BACKEND` (`torch` | `onnx-int8`) passed to `load_embedder` in `service/kb.py`
and `indexer/cli.py`, and `onnx`, `onnxruntime` as dependencies.

**Vector index at scale.** The kind is a setting (`ZHIWEN_VECTOR_INDEX`: auto, flat, hnsw or ivf,
tuned by `ZHIWEN_HNSW_*` and `ZHIWEN_IVF_*`) that `zhiwen index`, the live writer and the server
pass to the build, and the index's meta.json records what was built. Section 5 times the vector
index alone on a synthetic clustered mixture, whose queries sit inside their own cluster, so every
kind's recall there is near one by construction; section 5b measures what a user gets: the whole
hybrid search (BM25, vectors, fusion, rerank) over real sentence embeddings, each approximate
kind's top-10 against the exact run's for the same question. Choosing between HNSW and IVF is
reading those two rows: the recall each keeps, and the build seconds, which on this machine's
cores differ far more than the query times do.

**Keyword index at scale.** bm25s keeps a sparse matrix of precomputed scores; a query adds up
the rows of its tokens and the Searcher takes the top 100 of the resulting 1M-long array — about
1.5 ms at 1M chunks. The cost at that size is building it: 71 s from tokens plus about 9 minutes
of jieba tokenisation on one core (parallelisable per file), and ~1 GiB of memory.
"""
