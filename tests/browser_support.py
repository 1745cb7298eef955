"""Headless Chromium for the browser tests (test_app_browser.py, test_notebook_browser.py): the Debian
binary driven by playwright, a free local port, a local server started and awaited, and a skip mark when
either is missing. Not a test module."""
from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
NEEDS_CHROMIUM = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                    reason=f"{CHROMIUM} is absent (apt-get install -y chromium)")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def chromium():
    """A launched headless Chromium (playwright Browser); skips the test when playwright is missing."""
    pw = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')")
    with pw.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@contextmanager
def local_server(cmd: list[str], health_url: str, name: str, *, cwd, env: dict, timeout_s: float,
                 poll_s: float, stop_timeout_s: float):
    """Start `cmd` (a web server), wait until `health_url` answers 200 (failing the test with the server's
    output if it exits or `timeout_s` passes), yield, then terminate it (kill after `stop_timeout_s`)."""
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + timeout_s
        while True:
            try:
                if urllib.request.urlopen(health_url, timeout=2).status == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                out = proc.stdout.read().decode(errors="replace") if proc.poll() is not None else ""
                pytest.fail(f"{name} did not come up on {health_url}: {out[-2000:]}")
            time.sleep(poll_s)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=stop_timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
