"""The README's resolver snippets, taken from README.md itself so they cannot drift: BIND's
(`named-checkconf -z` loads the zone it names, as exported) and Unbound's (`unbound-checkconf`
accepts it, and a real `unbound` started with it answers NXDOMAIN for every listed name and
leaves other names alone). Skipped only where the tools are absent and CI is unset (`.ci/run`
installs bind9-utils and unbound)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rcode
import pytest

pytestmark = pytest.mark.committed

README = Path(__file__).resolve().parents[2] / "README.md"
LISTED = ["scam-shop.example.com", "pay.scam-shop.example.com", "login.evil.example.net"]
UNLISTED = "ok.example.com"


def _tool(name: str) -> str | None:
    return shutil.which(name) or next((p for p in (f"/usr/sbin/{name}",) if os.access(p, os.X_OK)), None)


def _needs(*tools: str):
    missing = [t for t in tools if _tool(t) is None]
    return pytest.mark.skipif(
        bool(missing) and not os.environ.get("CI"),
        reason=f"{', '.join(missing)} absent here (Debian: bind9-utils, unbound); CI installs them and never skips",
    )


def readme_block(after: str) -> str:
    """The first fenced block after the README line that starts with `after`."""
    text = README.read_text()
    start = text.index("\n" + after)
    match = re.search(r"\n```[a-z]*\n(.*?)\n```\n", text[start:], re.S)
    assert match, f"no fenced block after {after!r} in README.md"
    return match.group(1) + "\n"


@pytest.fixture
def zone_for(client, callers, auth):
    """zone_for(name) -> the zone as /v1/export/rpz serves it, with domains and a URL listed."""
    items = [
        {"kind": "domain", "value": "scam-shop.example.com"},
        {"kind": "url", "value": "http://login.evil.example.net/bank"},
    ]
    assert client.post("/v1/entries/bulk", json={"items": items}, headers=callers["carrier"]).status_code == 200
    reader = auth.headers(auth.org("consumer"))

    def get(name: str) -> str:
        response = client.get("/v1/export/rpz", headers=reader, query_string={"zone": name})
        assert response.status_code == 200
        return response.get_data(as_text=True)

    return get


def _swap_path(snippet: str, pattern: str, tmp_path: Path) -> tuple[str, Path]:
    """The snippet with its zone file path moved under tmp_path (the path must be there)."""
    match = re.search(pattern, snippet)
    assert match, f"the snippet names no zone file ({pattern})"
    local = tmp_path / Path(match.group(1)).name
    return snippet.replace(match.group(1), str(local)), local


@_needs("named-checkconf")
def test_the_bind_snippet_loads_the_exported_zone(zone_for, tmp_path):
    snippet = readme_block("BIND (`named.conf`)")
    name = re.search(r'zone "([^"]+)"', snippet).group(1)
    config, zone_file = _swap_path(snippet, r'file "([^"]+)"', tmp_path)
    zone_file.write_text(zone_for(name))
    (tmp_path / "named.conf").write_text(config)
    result = subprocess.run(
        [_tool("named-checkconf"), "-z", str(tmp_path / "named.conf")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"zone {name}/IN: loaded serial" in result.stdout
    zone_file.write_text(zone_for(name).replace("CNAME .", "CNAME"))  # a broken zone is refused
    broken = subprocess.run([_tool("named-checkconf"), "-z", str(tmp_path / "named.conf")], capture_output=True)
    assert broken.returncode != 0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _unbound_config(snippet: str, tmp_path: Path, port: int) -> str:
    """A `server:` clause for a throw-away unbound (foreground, this port, no chroot or user
    change, one local answer for the unlisted name), then the README's snippet unchanged."""
    return f"""server:
    interface: 127.0.0.1
    port: {port}
    do-daemonize: no
    chroot: ""
    username: ""
    pidfile: ""
    use-syslog: no
    directory: "{tmp_path}"
    num-threads: 1
    local-zone: "{UNLISTED}." static
    local-data: "{UNLISTED}. 60 IN A 192.0.2.1"

{snippet}"""


def _ask(port: int, name: str, timeout: float = 2.0) -> str:
    answer = dns.query.udp(dns.message.make_query(name, "A"), "127.0.0.1", port=port, timeout=timeout)
    return dns.rcode.to_text(answer.rcode())


@_needs("unbound", "unbound-checkconf")
def test_the_unbound_snippet_serves_nxdomain_for_listed_names(zone_for, tmp_path):
    snippet = readme_block("Unbound (1.10+")
    name = re.search(r"^\s*name:\s*(\S+)", snippet, re.M).group(1)
    snippet, zone_file = _swap_path(snippet, r"zonefile:\s*(\S+)", tmp_path)
    zone_file.write_text(zone_for(name))
    port = _free_port()
    config = tmp_path / "unbound.conf"
    config.write_text(_unbound_config(snippet, tmp_path, port))
    checked = subprocess.run([_tool("unbound-checkconf"), str(config)], capture_output=True, text=True)
    assert checked.returncode == 0 and "no errors" in checked.stdout, checked.stdout + checked.stderr

    log = tmp_path / "unbound.log"
    with log.open("w") as out:
        server = subprocess.Popen([_tool("unbound"), "-d", "-c", str(config)], stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline, answers = time.monotonic() + 15, {}
        while time.monotonic() < deadline and server.poll() is None:
            try:
                answers = {n: _ask(port, n) for n in (*LISTED, UNLISTED)}
                break
            except (dns.exception.Timeout, ConnectionRefusedError):
                time.sleep(0.2)
        assert answers, f"unbound did not answer: {log.read_text()}"
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert answers == {**dict.fromkeys(LISTED, "NXDOMAIN"), UNLISTED: "NOERROR"}, log.read_text()
