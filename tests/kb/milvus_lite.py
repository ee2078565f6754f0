"""Milvus Lite's server mode for the tests: the Milvus binary listening on a TCP port, shared by
the API nodes a test starts (an embedded ``.db`` engine can be opened by one process only), and
outliving any node a test kills."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any


class LiteServer:
    """Milvus Lite's server mode: ``milvus_lite.server.Server`` with a TCP address, in this
    process (it runs the Milvus binary as a child; :meth:`stop` kills it)."""

    def __init__(self, db: Path, port: int) -> None:
        self.db, self.port = db, port
        self.server: Any = None

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        from milvus_lite.server import Server as Lite

        self.server = Lite(str(self.db), f"127.0.0.1:{self.port}")
        assert self.server.init() and self.server.start(), "Milvus Lite did not start"
        deadline = time.monotonic() + 60
        while True:  # listening: a client connects
            try:
                from pymilvus import MilvusClient

                MilvusClient(uri=self.uri, timeout=5).close()
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()  # SIGKILL after 2 s: the address mode has no lock to release
            self.server = None
