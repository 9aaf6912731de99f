"""Test helpers shipped with the package: a scriptable OpenAI-compatible server.

    with FakeOpenAIServer() as srv:
        srv.script({"content": "hi"}, {"status": 429, "headers": {"Retry-After": "1"}}, ...)
        ... model "openai/test", base_url srv.url ...

Each scripted step is used by one request, in order; with the script empty the
server echoes the last user message. Steps: {"content"}, {"tool_calls": [{name,
arguments}]}, {"status", "headers", "body"}, {"delay": s} (combinable), {"raw": text}.
Streaming requests get server-sent events. Standard library only.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Server(ThreadingHTTPServer):
    request_queue_size = 512     # many concurrent clients; the default backlog of 5 stalls them


class FakeOpenAIServer:
    def __init__(self, delay: float = 0.0) -> None:
        self.steps: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.delay = delay
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True   # else delayed ACKs add ~40 ms a request

            def log_message(self, *a: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                with server._lock:
                    server.requests.append(body)
                    step = server.steps.pop(0) if server.steps else {}
                wait = step.get("delay", server.delay)
                if wait:
                    time.sleep(wait)
                if "status" in step and step["status"] != 200:
                    self._send(step["status"], json.dumps(step.get("body") or {"error": {
                        "message": f"scripted {step['status']}", "type": "server_error"}}).encode(),
                        step.get("headers"))
                    return
                if "raw" in step:
                    self._send(200, step["raw"].encode())
                    return
                msg = _message(step, body)
                usage = {"prompt_tokens": _count(body.get("messages")), "completion_tokens": _count(msg),
                         }
                usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
                if body.get("stream"):
                    self._stream(body, msg, usage)
                    return
                resp = {"id": "chatcmpl-" + uuid.uuid4().hex[:8], "object": "chat.completion",
                        "created": int(time.time()), "model": body.get("model", "fake"),
                        "choices": [{"index": 0, "message": msg,
                                     "finish_reason": "tool_calls" if msg.get("tool_calls") else "stop"}],
                        "usage": usage}
                self._send(200, json.dumps(resp).encode())

            def _send(self, status: int, data: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, body: dict[str, Any], msg: dict[str, Any], usage: dict[str, int]) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                base = {"id": "chatcmpl-s", "object": "chat.completion.chunk", "created": int(time.time()),
                        "model": body.get("model", "fake")}
                words = (msg.get("content") or "").split(" ")
                for i, w in enumerate(words):
                    piece = w if i == 0 else " " + w
                    chunk = base | {"choices": [{"index": 0, "delta": {"role": "assistant", "content": piece},
                                                 "finish_reason": None}]}
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    self.wfile.flush()
                end = base | {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": usage}
                self.wfile.write(f"data: {json.dumps(end)}\n\ndata: [DONE]\n\n".encode())
                self.wfile.flush()
                self.close_connection = True

        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def script(self, *steps: dict[str, Any]) -> "FakeOpenAIServer":
        with self._lock:
            self.steps.extend(steps)
        return self

    def start(self) -> "FakeOpenAIServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> "FakeOpenAIServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def _count(v: Any) -> int:
    return max(1, len(json.dumps(v)) // 4) if v else 0


def _message(step: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    if "tool_calls" in step:
        return {"role": "assistant", "content": step.get("content"),
                "tool_calls": [{"id": "call_" + uuid.uuid4().hex[:8], "type": "function",
                                "function": {"name": tc["name"], "arguments": json.dumps(tc.get("arguments", {}))}}
                               for tc in step["tool_calls"]]}
    if "content" in step:
        return {"role": "assistant", "content": step["content"]}
    users = [m for m in body.get("messages", []) if m.get("role") == "user"]
    text = users[-1]["content"] if users else ""
    if isinstance(text, list):
        text = " ".join(p.get("text", "") for p in text if isinstance(p, dict))
    return {"role": "assistant", "content": f"echo: {text}"}


class SpawnedServer:
    """The fake server in its own process (so it doesn't share the caller's GIL)."""

    def __init__(self, delay: float = 0.0) -> None:
        import subprocess
        import sys
        self.proc = subprocess.Popen([sys.executable, "-m", "llmspell.testing", str(delay)],
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()

    def __enter__(self) -> "SpawnedServer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.proc.terminate()
        self.proc.wait(10)


if __name__ == "__main__":
    import sys
    srv = FakeOpenAIServer(delay=float(sys.argv[1]) if len(sys.argv) > 1 else 0.0)
    print(srv.url, flush=True)
    srv.httpd.serve_forever()
