"""h2spec (pinned, built by third_party/deps.sh) against todo-api, plaintext
and TLS. It checks HTTP/2 framing and HPACK (RFC 7540/7541) plus generic
server behaviour; requests are plain GETs, answered by the server's 415
fallback with a non-empty body so no case skips itself.

One case is a known exception, named here with its reason:
  http2/5.1.1/2  "Sends stream identifier that is numerically smaller than
  previous": RFC 7540 5.1.1 asks for a connection error PROTOCOL_ERROR.
  nghttp2 1.52 (Debian 12), which does our HTTP/2 framing, does not keep
  closed streams for servers and ignores the frame instead; nghttpd from the
  same library fails this case the same way (checked when pinning).
"""

import os
import re
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import todo_harness as h

TOOLS = Path(os.environ.get("TOOLS_BIN", h.REPO / ".tools" / "bin"))
H2SPEC = TOOLS / "h2spec"
KNOWN_FAILURES = {"http2/5.1.1/2"}


def run_h2spec(port, tmp_path, *extra):
    """Runs h2spec; returns (text output, ids of failed cases like 'http2/5.1.1/2')."""
    if not H2SPEC.exists():
        pytest.fail(f"h2spec not installed at {H2SPEC}: run third_party/deps.sh test")
    report = tmp_path / "h2spec.xml"
    out = subprocess.run([str(H2SPEC), "-h", "127.0.0.1", "-p", str(port), "-o", str(int(5 * h.SLOW)), "-j",
                          str(report), *extra], capture_output=True, text=True,
                         timeout=600 * h.SLOW)
    failed = set()
    # h2spec copies frame bytes into its messages unescaped: drop the
    # characters XML forbids before parsing.
    xml = re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", "?", report.read_text(errors="replace"))
    for suite in ET.fromstring(xml).iter("testsuite"):
        for i, case in enumerate(suite.iter("testcase"), 1):
            if case.find("error") is not None or case.find("failure") is not None:
                failed.add(f"{suite.get('package')}/{i}")
    return out.stdout + out.stderr, failed


def check(text, failed):
    m = re.search(r"(\d+) tests, (\d+) passed, (\d+) skipped, (\d+) failed", text)
    assert m, text[-2000:]
    total, passed, skipped, nfailed = (int(x) for x in m.groups())
    assert total >= 146, text[-2000:]
    assert skipped == 0, text[-3000:]
    assert nfailed == len(failed), (failed, text[-3000:])
    assert failed <= KNOWN_FAILURES, text[-4000:]
    assert passed == total - len(failed)


def test_h2spec_plaintext(start_server, tmp_path):
    srv = start_server()
    check(*run_h2spec(srv.port, tmp_path))


def test_h2spec_tls(start_server, tmp_path):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "1", "-subj", "/CN=localhost"], check=True,
                   capture_output=True)
    srv = start_server(env={"TLS_CERT": str(cert), "TLS_KEY": str(key)})
    check(*run_h2spec(srv.port, tmp_path, "-t", "-k"))
