"""Issue 10, items 5 and 6: paths and trusted files, network.

E2  a walk (file_search, directory_lister) re-checks the real path of every entry: a
    symlinked file or folder inside an allowed folder that points outside is never
    read, listed or entered.
E3  a JS import without extension is checked on the real path of the file it loads,
    and only .js/.mjs files are imported (never llmspell.toml or serve.json as code).
E4  llmspell's own files (the config files it loaded, any llmspell.toml, .llmspell/**,
    the user config and config cache folders, its code and Python environment) are
    never readable, writable or listable through tools, whatever allowed_paths says.
E5  http_client drops Authorization, Cookie and Proxy-Authorization once a redirect
    leaves the first request's origin.
Private network: loopback, private, link-local and metadata addresses are refused
    after DNS, in every spelling, on every redirect hop, connecting to the address
    that was checked; `security.allow_private_network = true` opts in.

Hardlinks are not covered: a hardlink is the file itself (no real path to check) and
a spell cannot make one; only someone with shell access could plant it.
"""

from __future__ import annotations

import http.server
import json
import os
import socket
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from llmspell import Runtime, SpellFailed
from tests.conftest import Lua, make_rt

# ---- helpers


def call(rt: Runtime, name: str, inp: dict[str, Any]) -> Any:
    return rt.run(f"return Tools.get('{name}'):execute(JSON.decode([==[{json.dumps(inp)}]==])).result")


def refused(rt: Runtime, name: str, inp: dict[str, Any], needle: str) -> SpellFailed:
    with pytest.raises(SpellFailed) as ei:
        call(rt, name, inp)
    assert ei.value.code == 2006, (name, inp, ei.value)
    assert needle in ei.value.message, (name, inp, ei.value.message)
    assert "\n" not in ei.value.message
    return ei.value


DENIED = "security.denied_paths"
PRIVATE = "security.allow_private_network"


@pytest.fixture
def outside(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("outside")
    (d / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (d / "sub").mkdir()
    (d / "sub" / "deep.txt").write_text("root in a folder outside\n")
    return d


# ---- E2: walks re-check every entry


@pytest.fixture
def data_rt(project: Path, outside: Path) -> Any:
    """allowed_paths = ["./data"]; data/ holds one real file and links pointing out."""
    data = project / "data"
    data.mkdir()
    (data / "mine.txt").write_text("root of my own\n")
    (data / "p.txt").symlink_to(outside / "passwd")                 # the finding's repro
    (data / "linked-dir").symlink_to(outside / "sub")               # a symlinked folder inside the walk
    (data / "nested").mkdir()
    (data / "nested" / "again.txt").symlink_to(outside / "passwd")  # deeper in the walk
    (data / "cfg.txt").symlink_to(project / "llmspell.toml")        # at a trusted file (outside data/ too)
    rt = make_rt(project, '[storage]\nbackend = "memory"\n[security]\nallowed_paths = ["./data"]\n')
    yield rt
    rt.close()


def test_sec_e2_file_search_does_not_follow_a_symlinked_file(data_rt):
    hits = call(data_rt, "file_search", {"path": "data", "pattern": "root"})
    assert hits == [{"path": "mine.txt", "line": 1, "text": "root of my own"}]


def test_sec_e2_walks_skip_every_link_pointing_outside(data_rt):
    everything = {"path": "data", "pattern": ".", "include_hidden": True}
    assert {h["path"] for h in call(data_rt, "file_search", everything)} == {"mine.txt"}
    assert [h["path"] for h in call(data_rt, "file_search", {"path": "data", "name_pattern": "*.txt"})] == ["mine.txt"]
    listed = call(data_rt, "directory_lister", {"path": "data", "recursive": True, "include_hidden": True})
    assert sorted(e["path"] for e in listed) == ["mine.txt", "nested"]
    assert call(data_rt, "directory_lister", {"path": "data", "type": "file"}) == [
        {"name": "mine.txt", "path": "mine.txt", "type": "file"}]


def test_sec_e2_the_link_itself_is_refused_by_every_path_tool(data_rt):
    for path in ("data/p.txt", "data/linked-dir/deep.txt", "data/nested/again.txt"):
        for name, inp in [("file_reader", {"path": path}), ("file_search", {"path": path, "pattern": "root"}),
                          ("file_metadata", {"path": path}), ("hash_calculator", {"path": path}),
                          ("csv_processor", {"path": path}), ("yaml_processor", {"path": path}),
                          ("json_processor", {"path": path, "query": "a"}),
                          ("file_writer", {"path": path, "content": "x"})]:
            refused(data_rt, name, inp, "outside security.allowed_paths")
    refused(data_rt, "directory_lister", {"path": "data/linked-dir"}, "outside security.allowed_paths")


def test_sec_e2_a_link_inside_the_allowed_folder_still_works(project):
    (project / "data").mkdir()
    (project / "data" / "real.txt").write_text("needle\n")
    (project / "data" / "alias.txt").symlink_to(project / "data" / "real.txt")
    rt = make_rt(project, '[storage]\nbackend = "memory"\n[security]\nallowed_paths = ["./data"]\n')
    try:
        assert sorted(h["path"] for h in call(rt, "file_search", {"path": "data", "pattern": "needle"})) == [
            "alias.txt", "real.txt"]
    finally:
        rt.close()


# ---- E3: JS imports are checked on the final real path


@pytest.mark.parametrize("code", ['import "./host";', 'import x from "./host";', 'import x from "./host.js";',
                                  'await import("./host");', 'import x from "./lib/host";'])
def test_sec_e3_js_import_of_a_symlink_outside_is_refused(project, outside, code):
    (outside / "host.js").write_text("print('outside code ran'); export default 1;")
    (project / "host.js").symlink_to(outside / "host.js")
    (project / "lib").mkdir()
    (project / "lib" / "host.js").symlink_to(outside / "host.js")
    (project / "main.js").write_text(code + "\n")
    rt = Runtime(cwd=project)
    lua = Lua(rt)                      # captures what the spell prints
    try:
        with pytest.raises(SpellFailed) as ei:
            rt.run_file(project / "main.js")
        assert ei.value.code == 4006 and "outside the spell's folder" in ei.value.message
        assert "outside code ran" not in lua.out.getvalue()
    finally:
        rt.close()


@pytest.mark.parametrize("code", ['import "./llmspell.toml";', 'import x from "./.llmspell/serve.json";',
                                  'import "./cfg";', 'import "./notes.txt";'])
def test_sec_e3_js_import_of_a_data_file_is_refused(project, code):
    """Only .js/.mjs modules: llmspell.toml or serve.json (a token) are never run as code,
    also through a link named like a module."""
    (project / ".llmspell").mkdir()
    (project / ".llmspell" / "serve.json").write_text('{"token": "t0k"}')
    (project / "notes.txt").write_text("globalThis.leak = 1;")
    (project / "cfg.js").symlink_to(project / "llmspell.toml")
    (project / "main.js").write_text(code + "\n")
    rt = Runtime(cwd=project)
    try:
        with pytest.raises(SpellFailed) as ei:
            rt.run_file(project / "main.js")
        assert ei.value.code == 4006 and "only .js and .mjs modules" in ei.value.message
    finally:
        rt.close()


def test_sec_e3_js_import_of_a_symlink_inside_still_works(project):
    (project / "lib").mkdir()
    (project / "lib" / "real.js").write_text("export default 41;")
    (project / "alias.js").symlink_to(project / "lib" / "real.js")
    (project / "main.js").write_text('import x from "./alias";\nexport default x + 1;\n')
    rt = Runtime(cwd=project)
    try:
        assert rt.run_file(project / "main.js") == 42
    finally:
        rt.close()


# ---- E4: llmspell's own files


@pytest.fixture
def trusted(project: Path) -> Any:
    """allowed_paths = ["."] (the default); a real LevelDB under .llmspell/data, a
    daemon's serve.json next to it."""
    rt = Runtime(cwd=project)
    rt.run("Storage.set('k', 'v')")
    rt.close()
    assert (project / ".llmspell" / "data" / "CURRENT").is_file()
    (project / ".llmspell" / "serve.json").write_text('{"host": "127.0.0.1", "port": 8080, "token": "t0k"}')
    (project / "notes.txt").write_text("backend notes\n")
    (project / "sub").mkdir()
    (project / "link.toml").symlink_to(project / "llmspell.toml")
    (project / "sub" / "state").symlink_to(project / ".llmspell")
    before = {p: p.read_bytes() for p in [project / "llmspell.toml", project / ".llmspell" / "serve.json"]}
    rt = Runtime(cwd=project)
    yield project, rt
    rt.close()
    for p, data in before.items():                  # nothing was changed
        assert p.read_bytes() == data, p
    assert (project / ".llmspell" / "data" / "CURRENT").read_bytes().startswith(b"MANIFEST-")  # (LevelDB's own)
    assert not (project / ".llmspell" / "planted.txt").exists()
    assert not (project / "sub" / "llmspell.toml").exists()


TRUSTED_SPELLINGS = ["llmspell.toml", "./llmspell.toml", "{abs}/llmspell.toml", "sub/../llmspell.toml", "link.toml",
                     ".llmspell/data/CURRENT", "./.llmspell/serve.json", "{abs}/.llmspell/serve.json",
                     "sub/../.llmspell/serve.json", "sub/state/serve.json", "sub/state/data/CURRENT"]


def test_sec_e4_file_writer_cannot_rewrite_the_config(trusted):
    project, rt = trusted
    refused(rt, "file_writer", {"path": "llmspell.toml", "content": '[security]\nallowed_paths=["/"]'}, DENIED)
    refused(rt, "file_writer", {"path": ".llmspell/serve.json",
                                "content": '{"host": "evil.example", "port": 80, "token": "x"}'}, DENIED)


@pytest.mark.parametrize("spelling", TRUSTED_SPELLINGS)
def test_sec_e4_trusted_files_in_every_spelling_and_tool(trusted, spelling):
    project, rt = trusted
    path = spelling.format(abs=project)
    for name, inp in [("file_writer", {"path": path, "content": "x"}),
                      ("file_writer", {"path": path, "content": "x", "append": True, "atomic_write": False}),
                      ("file_reader", {"path": path}), ("file_metadata", {"path": path}),
                      ("file_search", {"path": path, "pattern": "."}), ("hash_calculator", {"path": path}),
                      ("yaml_processor", {"path": path}), ("csv_processor", {"path": path})]:
        refused(rt, name, inp, DENIED)


@pytest.mark.parametrize("folder", [".llmspell", "./.llmspell/data", "sub/state", "{abs}/.llmspell"])
def test_sec_e4_trusted_folders_cannot_be_listed_searched_or_written(trusted, folder):
    project, rt = trusted
    folder = folder.format(abs=project)
    refused(rt, "directory_lister", {"path": folder, "include_hidden": True}, DENIED)
    refused(rt, "file_search", {"path": folder, "pattern": ".", "include_hidden": True}, DENIED)
    refused(rt, "file_writer", {"path": folder + "/planted.txt", "content": "x"}, DENIED)


def test_sec_e4_walks_of_the_project_leave_trusted_files_out(trusted):
    project, rt = trusted
    listed = call(rt, "directory_lister", {"path": ".", "recursive": True, "include_hidden": True})
    names = sorted(e["path"] for e in listed)
    assert names == ["notes.txt", "sub"], names
    hits = call(rt, "file_search", {"path": ".", "pattern": "backend|token|allowed", "include_hidden": True})
    assert hits == [{"path": "notes.txt", "line": 1, "text": "backend notes"}]


def test_sec_e4_a_new_llmspell_toml_cannot_be_planted(trusted):
    """A spell run from sub/ (or anywhere below) would load it: any llmspell.toml is denied."""
    project, rt = trusted
    for path in ("sub/llmspell.toml", "deeper/still/llmspell.toml"):
        refused(rt, "file_writer", {"path": path, "content": "[security]\nallowed_paths = ['/']\n"}, DENIED)
    assert not (project / "deeper").exists()


def test_sec_e4_user_config_cache_and_custom_storage_are_trusted(project, _shared_cache):
    """allowed_paths that include them change nothing: the user config folder
    ($XDG_CONFIG_HOME/llmspell, inside this project here), the config cache, a storage
    folder elsewhere with its serve.json, and a --config file."""
    user = Path(os.environ["XDG_CONFIG_HOME"]) / "llmspell"
    user.mkdir(parents=True)
    (user / "llmspell.toml").write_text("[events]\npersist = true\n")
    (project / "conf").mkdir()
    (project / "conf" / "custom.toml").write_text(
        f'[storage]\nbackend = "memory"\npath = "{project}/state/db"\n'
        f'[security]\nallowed_paths = ["{project}", "{_shared_cache}"]\n')
    (project / "state" / "db").mkdir(parents=True)
    (project / "state" / "serve.json").write_text("{}")
    rt = Runtime(config=project / "conf" / "custom.toml", cwd=project)
    try:
        assert call(rt, "file_writer", {"path": "conf/ok.txt", "content": "fine"})["bytes_written"] == 4
        for path in [str(user / "llmspell.toml"), ".xdg/llmspell/new.toml", "conf/custom.toml",
                     "state/serve.json", "state/db/CURRENT", "state/anything", str(_shared_cache / "llmspell" / "x")]:
            refused(rt, "file_writer", {"path": path, "content": "x"}, DENIED)
        refused(rt, "directory_lister", {"path": str(_shared_cache / "llmspell")}, DENIED)
        assert "custom.toml" not in [e["name"] for e in call(rt, "directory_lister", {"path": "conf"})]
    finally:
        rt.close()


def test_sec_e4_storage_folder_next_to_an_allowed_one(project, tmp_path_factory):
    """storage at /srv/db denies /srv/db and /srv/serve.json, not an allowed /srv/shared."""
    srv = tmp_path_factory.mktemp("srv")
    (srv / "shared").mkdir()
    (srv / "db").mkdir()
    rt = make_rt(project, f'[storage]\nbackend = "memory"\npath = "{srv}/db"\n'
                          f'[security]\nallowed_paths = [".", "{srv}/shared", "{srv}/db"]\n')
    try:
        assert call(rt, "file_writer", {"path": f"{srv}/shared/a.txt", "content": "ok"})["bytes_written"] == 2
        refused(rt, "file_writer", {"path": f"{srv}/db/CURRENT", "content": "x"}, DENIED)
        refused(rt, "file_writer", {"path": f"{srv}/shared/../serve.json", "content": "x"},
                "outside security.allowed_paths")
    finally:
        rt.close()


def test_sec_e4_llmspell_code_and_python_environment_are_trusted(project):
    """The preludes run with host access and a .pth file in site-packages runs at the
    next start: allowed_paths = ["/"] does not open them."""
    import sysconfig

    import llmspell
    from llmspell.paths import builtins_dir
    rt = make_rt(project, '[storage]\nbackend = "memory"\n[security]\nallowed_paths = ["/"]\n')
    try:
        pkg = Path(llmspell.__file__).resolve().parent
        site_packages = sysconfig.get_paths()["purelib"]
        refused(rt, "file_reader", {"path": str(pkg / "tools" / "security.py")}, DENIED)
        refused(rt, "file_writer", {"path": str(builtins_dir() / "lua" / "prelude.lua"), "content": "x"}, DENIED)
        refused(rt, "file_writer", {"path": site_packages + "/evil.pth", "content": "import os"}, DENIED)
        assert not Path(site_packages, "evil.pth").exists()
        if sys.prefix != sys.base_prefix:
            refused(rt, "file_writer", {"path": sys.prefix + "/bin/activate", "content": "x"}, DENIED)
    finally:
        rt.close()


def test_sec_e4_denied_paths_setting(project):
    """Entries of its own (paths and globs); the files the runtime loaded stay denied
    whatever the list says."""
    (project / "secrets").mkdir()
    (project / "secrets" / "a.txt").write_text("s")
    (project / "k.key").write_text("k")
    (project / "deep" / "x").mkdir(parents=True)
    (project / "deep" / "x" / "id.key").write_text("k")
    (project / "open.txt").write_text("o")
    rt = make_rt(project, '[storage]\nbackend = "memory"\n'
                          '[security]\ndenied_paths = ["secrets", "*.key", "**/id.*"]\n')
    try:
        for path in ("secrets/a.txt", "secrets", "k.key", "./k.key", "deep/x/id.key", str(project / "k.key"),
                     "llmspell.toml"):
            refused(rt, "file_reader", {"path": path}, DENIED)
        assert call(rt, "file_reader", {"path": "open.txt"}) == "o"
        assert call(rt, "file_reader", {"path": "deep/x/../../open.txt"}) == "o"
        names = {e["path"] for e in call(rt, "directory_lister", {"path": ".", "recursive": True})}
        assert names == {"open.txt", "deep", "deep/x"}, names
    finally:
        rt.close()


# ---- E5 and private network: local servers


class _Server:
    """A server on `host` that records what it got; /echo answers the request's
    headers, /go?to=URL redirects there (302, or the status in &status=)."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        seen = self.seen = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self) -> None:
                from urllib.parse import parse_qs, urlsplit
                seen.append((self.command, self.path, dict(self.headers)))
                q = parse_qs(urlsplit(self.path).query)
                if self.path.startswith("/go"):
                    self.send_response(int(q.get("status", ["302"])[0]))
                    self.send_header("Location", q["to"][0])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                n = int(self.headers.get("Content-Length") or 0)
                if n:
                    self.rfile.read(n)
                body = json.dumps({k.lower(): v for k, v in self.headers.items()}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, *a: Any) -> None:
                pass

        self.srv = http.server.ThreadingHTTPServer((host, 0), Handler)
        self.port = self.srv.server_address[1]
        self.url = f"http://{host}:{self.port}"
        threading.Thread(target=self.srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.srv.shutdown()
        self.srv.server_close()


@pytest.fixture
def servers() -> Any:
    a, b = _Server(), _Server()
    yield a, b
    a.close()
    b.close()


def go(to: str, status: int = 302) -> str:
    from urllib.parse import quote
    return f"/go?status={status}&to={quote(to, safe='')}"


CREDS = {"Authorization": "Bearer s3cret", "Cookie": "session=abc", "Proxy-Authorization": "Basic cHJveHk=",
         "X-Keep": "kept"}


def creds_seen(r: dict[str, Any]) -> dict[str, str]:
    return {k: v for k, v in r["json"].items() if k in ("authorization", "cookie", "proxy-authorization", "x-keep")}


@pytest.fixture
def local_rt(project: Path) -> Any:
    rt = make_rt(project, '[storage]\nbackend = "memory"\n[security]\nallow_private_network = true\n')
    yield rt
    rt.close()


def test_sec_e5_cross_origin_redirect_drops_credentials(local_rt, servers):
    """The finding: localhost:A redirects to 127.0.0.1:B."""
    a, b = servers
    r = call(local_rt, "http_client", {"url": f"http://localhost:{a.port}" + go(b.url + "/echo"), "headers": CREDS})
    assert r["status"] == 200 and r["url"] == b.url + "/echo"
    assert creds_seen(r) == {"x-keep": "kept"}
    assert a.seen[0][2]["Authorization"] == "Bearer s3cret"          # the first hop had them


def test_sec_e5_same_origin_redirect_keeps_credentials(local_rt, servers):
    a, _ = servers
    r = call(local_rt, "http_client", {"url": a.url + go("/echo"), "headers": CREDS})
    assert creds_seen(r) == {"authorization": "Bearer s3cret", "cookie": "session=abc",
                             "proxy-authorization": "Basic cHJveHk=", "x-keep": "kept"}
    r = call(local_rt, "http_client", {"url": a.url + go(a.url + "/echo"), "headers": CREDS})   # absolute, same
    assert creds_seen(r)["authorization"] == "Bearer s3cret"


@pytest.mark.parametrize("variant", ["other-port", "other-host", "back-again", "307-post", "lowercase-names"])
def test_sec_e5_variants(local_rt, servers, variant):
    a, b = servers
    headers = CREDS
    inp: dict[str, Any] = {}
    if variant == "other-port":
        url = a.url + go(b.url + "/echo")
    elif variant == "other-host":                     # same port, another host name
        url = a.url + go(f"http://localhost:{a.port}/echo")
    elif variant == "back-again":                     # A -> B -> A: once dropped, never put back
        url = a.url + go(b.url + go(a.url + "/echo"))
    elif variant == "307-post":
        url = a.url + go(b.url + "/echo", 307)
        inp = {"method": "POST", "body": "data"}
    else:
        url = a.url + go(b.url + "/echo")
        headers = {k.lower() if k != "Cookie" else "COOKIE": v for k, v in CREDS.items()}
    r = call(local_rt, "http_client", {"url": url, "headers": headers, **inp})
    assert r["status"] == 200 and creds_seen(r) == {"x-keep": "kept"}, (variant, r["json"])
    if variant == "307-post":
        assert b.seen[-1][0] == "POST"


def test_sec_e5_params_are_not_appended_again_after_a_redirect(local_rt, servers):
    a, _ = servers
    r = call(local_rt, "http_client", {"url": a.url + "/go", "params": {"to": "/echo?x=1"}})
    assert r["status"] == 200 and a.seen[-1][1] == "/echo?x=1"


LITERALS = ["http://127.0.0.1:{port}/", "http://127.1:{port}/", "http://0x7f000001:{port}/",
            "http://2130706433:{port}/", "http://017700000001:{port}/", "http://[::1]:{port}/",
            "http://[::ffff:127.0.0.1]:{port}/", "http://[::ffff:7f00:1]:{port}/", "http://0.0.0.0:{port}/",
            "http://localhost:{port}/", "http://LOCALHOST:{port}/", "http://user@127.0.0.1:{port}/",
            "http://169.254.169.254/latest/meta-data/", "http://[fd00:ec2::254]/", "http://100.100.100.200/",
            "http://10.0.0.1/", "http://172.16.5.4/", "http://192.168.1.1/", "http://100.64.0.1/",
            "http://[fe80::1]/", "http://[fc00::1]/", "http://[64:ff9b::7f00:1]/", "http://[2002:7f00:1::]/",
            "http://224.0.0.1/", "http://255.255.255.255/", "https://127.0.0.1:{port}/"]


@pytest.fixture
def default_rt(project: Path) -> Any:
    rt = make_rt(project, '[storage]\nbackend = "memory"\n')
    yield rt
    rt.close()


def test_sec_private_network_is_refused_by_default(default_rt, servers):
    a, _ = servers
    e = refused(default_rt, "http_client", {"url": a.url + "/echo"}, PRIVATE)
    assert "127.0.0.1 is a loopback address" in e.message
    assert a.seen == []


@pytest.mark.parametrize("url", LITERALS)
def test_sec_private_network_every_spelling(default_rt, servers, url):
    a, _ = servers
    refused(default_rt, "http_client", {"url": url.format(port=a.port), "timeout": 5}, PRIVATE)
    assert a.seen == []


def test_sec_private_network_opt_in(local_rt, servers):
    a, _ = servers
    for host in ("127.0.0.1", "localhost", "127.1", "2130706433"):
        r = call(local_rt, "http_client", {"url": f"http://{host}:{a.port}/echo"})
        assert r["status"] == 200, host
    assert len(a.seen) == 4


class FakeDNS:
    """socket.getaddrinfo for names under .test: each name answers from its list (one
    answer per call, the last repeating); every other name resolves for real."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[list[str]]]) -> None:
        self.answers, self.calls = answers, []
        real = socket.getaddrinfo

        def fake(host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0) -> Any:
            name = host.decode() if isinstance(host, bytes) else host
            if name not in self.answers or flags & socket.AI_NUMERICHOST:
                return real(host, port, family, type, proto, flags)
            self.calls.append(name)
            seq = self.answers[name]
            ips = seq[min(len([c for c in self.calls if c == name]) - 1, len(seq) - 1)]
            return [(socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_STREAM, 6, "",
                     (ip, int(port or 0), 0, 0) if ":" in ip else (ip, int(port or 0))) for ip in ips]
        monkeypatch.setattr(socket, "getaddrinfo", fake)


def test_sec_private_network_public_name_resolving_to_a_private_address(project, servers, monkeypatch):
    a, _ = servers
    FakeDNS(monkeypatch, {"public.test": [["127.0.0.1"]], "mixed.test": [["93.184.216.34", "127.0.0.1"]],
                          "meta.test": [["169.254.169.254"]], "v6.test": [["::1"]]})
    rt = make_rt(project, '[storage]\nbackend = "memory"\n')
    try:
        e = refused(rt, "http_client", {"url": f"http://public.test:{a.port}/echo"}, PRIVATE)
        assert "'public.test' (resolves to 127.0.0.1) is a loopback address" in e.message
        refused(rt, "http_client", {"url": f"http://mixed.test:{a.port}/echo"}, "resolves to 127.0.0.1")
        refused(rt, "http_client", {"url": "http://meta.test/latest/"}, "a cloud metadata address")
        refused(rt, "http_client", {"url": f"http://v6.test:{a.port}/"}, "loopback")
        assert a.seen == []
    finally:
        rt.close()
    rt = make_rt(project, '[storage]\nbackend = "memory"\n[security]\nallow_private_network = true\n')
    try:                                            # opted in, the same name reaches the server
        r = call(rt, "http_client", {"url": f"http://public.test:{a.port}/echo"})
        assert r["status"] == 200 and r["json"]["host"] == f"public.test:{a.port}"
    finally:
        rt.close()


@pytest.fixture
def public_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """127.0.0.1 plays the internet: the test servers on it count as public sites
    (every other address keeps its real kind)."""
    from llmspell.tools import security
    real = security.address_refusal
    monkeypatch.setattr(security, "address_refusal", lambda ip: None if ip == "127.0.0.1" else real(ip))


def test_sec_private_network_checked_on_every_redirect(project, servers, monkeypatch, public_loopback):
    a, _ = servers
    b = _Server("127.0.0.2")                        # the private service the redirect aims at
    FakeDNS(monkeypatch, {"site.test": [["127.0.0.1"]], "internal.test": [["127.0.0.2"]]})
    try:
        rt = make_rt(project, '[storage]\nbackend = "memory"\n')
        try:
            r = call(rt, "http_client", {"url": f"http://site.test:{a.port}/echo"})       # a "public" site works
            assert r["status"] == 200
            for target in (f"{b.url}/echo", f"http://internal.test:{b.port}/echo", f"http://0x7f000002:{b.port}/",
                           "http://169.254.169.254/latest/meta-data/"):
                refused(rt, "http_client", {"url": f"http://site.test:{a.port}" + go(target)}, PRIVATE)
            assert b.seen == []
        finally:
            rt.close()
        rt = make_rt(project, '[storage]\nbackend = "memory"\n[security]\nallow_private_network = true\n')
        try:                                        # the same redirect, opted in, gets there
            r = call(rt, "http_client", {"url": f"http://site.test:{a.port}" + go(f"http://internal.test:{b.port}/echo")})
            assert r["status"] == 200 and len(b.seen) == 1
        finally:
            rt.close()
    finally:
        b.close()


def test_sec_private_network_connects_to_the_address_it_checked(project, servers, monkeypatch, public_loopback):
    """DNS rebinding: the first answer is checked, a later one would point elsewhere
    (127.0.0.3, where nothing listens). The name is resolved once per connection and
    the connection goes to the checked address."""
    a, _ = servers
    dns = FakeDNS(monkeypatch, {"rebind.test": [["127.0.0.1"], ["127.0.0.3"]]})
    rt = make_rt(project, '[storage]\nbackend = "memory"\n')
    try:
        r = call(rt, "http_client", {"url": f"http://rebind.test:{a.port}/echo", "headers": CREDS})
        assert r["status"] == 200 and dns.calls == ["rebind.test"]
    finally:
        rt.close()


def test_sec_e5_credentials_dropped_on_the_default_client_too(project, servers, monkeypatch, public_loopback):
    """Without allow_private_network (each call's own, address-checking client)."""
    a, _ = servers
    FakeDNS(monkeypatch, {"one.test": [["127.0.0.1"]], "two.test": [["127.0.0.1"]]})
    rt = make_rt(project, '[storage]\nbackend = "memory"\n')
    try:
        r = call(rt, "http_client", {"url": f"http://one.test:{a.port}" + go(f"http://two.test:{a.port}/echo"),
                                     "headers": CREDS})
        assert r["status"] == 200 and creds_seen(r) == {"x-keep": "kept"}
        r = call(rt, "http_client", {"url": f"http://one.test:{a.port}" + go("/echo"), "headers": CREDS})
        assert creds_seen(r)["cookie"] == "session=abc"
    finally:
        rt.close()
