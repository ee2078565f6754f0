"""Findings appended to docs/benchmarks.md: what the figures alone don't say.

No figure lives here: every number on the page comes from a result file written by the run that
measured it (``bench/results/*.json``, with its commit, settings and machine)."""

NOTES = """
## Findings and what follows from them

**Answer quality is measured elsewhere.** `zhiwen eval` writes the quality figures: [docs/evaluation.md](evaluation.md)
(summary in the README), and [docs/eval/answerability-squad2-zh.md](eval/answerability-squad2-zh.md)
for refusals on on-topic unanswerable questions (issue 31's baseline).

**A busy machine.** The load average at the start of each benchmark is printed under it: on a
machine shared with other jobs, absolute times are inflated and vary from run to run. Every target
is therefore a ratio of measurements interleaved in the same run (served vs floor question by
question, int8 vs fp32 block by block, bare encode before and after the build).

**One thread per query.** One query is too little work to split across threads, and when a second
OpenMP thread is descheduled the first waits for it at every fork/join. The service pins torch and
FAISS to `ZHIWEN_INFERENCE_THREADS` threads (default 1) when it loads the engine and gets its
parallelism from serving several requests at once; index building keeps all cores.

**Where a request's time goes.** The server reports its own stages in a `Server-Timing` header
and in `/metrics` (`zhiwen_stage_duration_seconds{stage=…}`): the query encode, BM25, the dense
top candidates, the sentence cosines of the candidate pool (the floor), then fusion, rerank and
answer composition (the ranker's and the answer's own work). The latency section splits the
served round trip with these, from the same requests.

**int8.** `load_embedder(model, backend="onnx-int8")` is a drop-in `Embedder` named
`m3e-small@onnx-int8`, so an index built with fp32 refuses to load with it (and vice versa) and the
embedding cache keeps the two apart. The service does not offer it as a setting yet.

**Vector index at scale.** The kind is a setting (`ZHIWEN_VECTOR_INDEX`: auto, flat, hnsw or ivf,
tuned by `ZHIWEN_HNSW_*` and `ZHIWEN_IVF_*`) that `zhiwen index`, the live writer and the server
pass to the build, and the index's meta.json records what was built. Section 5 times the vector
index alone on a synthetic clustered mixture, whose queries sit inside their own cluster, so every
kind's recall there is near one by construction; section 5b measures what a user gets: the whole
hybrid search (BM25, vectors, fusion, rerank) over real sentence embeddings, each approximate
kind's top-10 against the exact run's for the same question. Choosing between HNSW and IVF is
reading those two rows: the recall each keeps, and the build seconds, which on this machine's
cores differ far more than the query times do.

**Ingestion is OCR.** In the office archive, reading scanned pages takes most of a cold
ingestion; Word, text PDF, chunking and BM25 are a few percent. Both cores are busy where the
work allows it: onnxruntime's two intra-op threads for OCR and torch's for embedding (the "cores"
column), so reading two pages at once would only split the same two cores. Reading Word and text
PDF files and jieba's tokenising hold the GIL and use one core; they are small. One writer still
builds each index: the benchmark's processes never share an index.

**Keyword index at scale.** bm25s keeps a sparse matrix of precomputed scores; a query adds up the
rows of its tokens and the searcher takes the top candidates of the resulting array. At large
sizes the cost is building it (jieba tokenisation dominates, on one core) and its memory; the
scale section measures both.
"""
