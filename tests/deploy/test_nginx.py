"""`nginx -t` accepts deploy/nginx's two sites — blocklist.conf (hosts, several app nodes) and
compose.conf (deploy/compose.yaml) — laid out as they are installed: the site and its blocklist/
pieces under nginx's configuration directory, and a certificate in tls/ (a self-signed one made
here stands in for the operator's). Debian's `nginx` package provides nginx; `.ci/run` installs it
when missing."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ROOT = Path(__file__).resolve().parents[2]
NGINX_DIR = ROOT / "deploy" / "nginx"
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)

# Skipped on a developer machine without it; in CI (CI=true) a missing nginx fails instead.
pytestmark = pytest.mark.skipif(
    NGINX is None and not os.environ.get("CI"), reason="nginx missing (Debian package nginx; .ci/run installs it)"
)


def _self_signed(tls: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "blocklist.example.org")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    tls.mkdir()
    (tls / "blocklist.fullchain.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tls / "blocklist.key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )


@pytest.mark.parametrize("site", ["blocklist.conf", "compose.conf"])
def test_nginx_accepts_the_site(site: str, tmp_path: Path):
    shutil.copytree(NGINX_DIR, tmp_path, dirs_exist_ok=True)
    _self_signed(tmp_path / "tls")
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log stderr;\nevents {{}}\nhttp {{\n    include {site};\n}}\n"
    )
    assert NGINX is not None, "nginx is not installed (.ci/run installs Debian's nginx)"
    result = subprocess.run(
        [NGINX, "-t", "-p", f"{tmp_path}/", "-c", str(tmp_path / "nginx.conf")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr
    # Warnings other than OCSP stapling on a self-signed certificate would be mistakes.
    warnings = [line for line in result.stderr.splitlines() if "[warn]" in line and "ssl_stapling" not in line]
    assert warnings == []
