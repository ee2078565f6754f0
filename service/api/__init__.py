"""The HTTP layer: the FastAPI app, its routes, request/response schemas, keys, CORS and the
static chat page. Answers come from ``service.answering``; nothing below imports this package."""
