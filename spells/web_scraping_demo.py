"""Serve a few pages on 127.0.0.1 and run web_scraping.lua against them.

    python spells/web_scraping_demo.py [--engine js]

Spells are sandboxed and cannot open sockets, so this runner plays the web
site; it also shows llmspell embedded in a Python program.
"""

from __future__ import annotations

import http.server
import threading
from pathlib import Path

import llmspell

PAGES = {
    "/alpha.html": ("Alpha: solar panels", "Solar panels convert sunlight into electricity. " * 20),
    "/beta.html": ("Beta: wind turbines", "Wind turbines turn moving air into power. " * 15),
    "/gamma.html": ("Gamma: heat pumps", "Heat pumps move heat instead of making it. " * 25),
    "/delta.html": ("Delta: batteries", "Batteries store energy for later use. " * 10),
}


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        title, text = PAGES.get(self.path, ("Not found", "nothing here"))
        body = f"<html><head><title>{title}</title></head><body><p>{text}</p></body></html>".encode()
        self.send_response(200 if self.path in PAGES else 404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def main() -> None:
    import sys
    ext = ".js" if "--engine" in sys.argv and sys.argv[-1] in ("js", "javascript") else ".lua"
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    rt = llmspell.Runtime(overrides={"security.allow_private_network": True})   # our pages are on 127.0.0.1
    try:
        rt.run_file(Path(__file__).with_name("web_scraping" + ext),
                    params={"base_url": f"http://127.0.0.1:{server.server_address[1]}"})
    except llmspell.LLMSpellError as e:
        raise SystemExit(f"error: {e.located()}") from None
    finally:
        rt.close()
        server.shutdown()


if __name__ == "__main__":
    main()
