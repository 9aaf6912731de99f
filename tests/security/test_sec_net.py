"""D11: http_client streams the body and stops at max_bytes (after decompression),
so a huge, endless or compressed-bomb response never lands in memory whole."""

from __future__ import annotations

import gzip
import http.server
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from llmspell import Runtime

CHUNK = b"x" * 65536
BOMB = gzip.compress(b"\0" * (64 << 20))        # 64 MiB of zeros in ~64 KiB


class _Handler(http.server.BaseHTTPRequestHandler):
    sent = 0

    def log_message(self, *a: Any) -> None:
        pass

    def do_GET(self) -> None:
        if self.path == "/bomb":
            self.send_response(200)
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(BOMB)))
            self.end_headers()
            self.wfile.write(BOMB)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(1 << 30))      # claims 1 GiB
        self.end_headers()
        try:
            for _ in range((1 << 30) // len(CHUNK)):
                self.wfile.write(CHUNK)
                type(self).sent += len(CHUNK)
        except OSError:
            pass                                               # the client hung up: good


@pytest.fixture
def big_server() -> Iterator[str]:
    _Handler.sent = 0
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def net_rt(project: Path) -> Iterator[Runtime]:
    (project / "llmspell.toml").write_text('[storage]\nbackend = "memory"\n[security]\nallow_private_network = true\n')
    rt = Runtime(cwd=project)
    yield rt
    rt.close()


def test_sec_d11_a_huge_body_is_cut_at_max_bytes(net_rt: Runtime, big_server: str) -> None:
    t0 = time.perf_counter()
    v = net_rt.run(f'local r = Tools.get("http_client"):execute({{ url = "{big_server}/big", max_bytes = 1000 }}).result '
                   'return { #r.body, r.truncated }')
    assert v == [1000, True] and time.perf_counter() - t0 < 10
    time.sleep(0.2)
    assert _Handler.sent < (64 << 20), f"the client read {_Handler.sent >> 20} MiB of a 1 GiB body"


def test_sec_d11_a_compressed_bomb_is_cut_after_decompression(net_rt: Runtime, big_server: str) -> None:
    v = net_rt.run(f'local r = Tools.get("http_client"):execute({{ url = "{big_server}/bomb", max_bytes = 5000 }}).result '
                   'return { #r.body, r.truncated }')
    assert v == [5000, True]


def test_sec_d11_a_body_that_fits_is_whole_and_not_marked(net_rt: Runtime, big_server: str) -> None:
    v = net_rt.run(f'local r = Tools.get("http_client"):execute({{ url = "{big_server}/bomb", max_bytes = 100000000 }})'
                   '.result return { #r.body, r.truncated == nil }')
    assert v == [64 << 20, True]
