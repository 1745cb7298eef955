"""Explorer speed on the demo run (not a test): launch to a fully drawn first page, one frame step of
the client-side player, and switching sequence, in headless Chromium.

    python benchmarks/bench_app.py            # prints three numbers (seconds)
"""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    port = _port()
    env = {**os.environ, "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false", "OMP_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(ROOT / "app" / "main.py"),
                             "--server.headless", "true", "--server.port", str(port), "--server.address", "127.0.0.1",
                             "--server.fileWatcherType", "none"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=1).status == 200:
                    break
            except OSError:
                time.sleep(0.1)
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu",
                                                                   "--disable-background-networking"])
            page = b.new_page(viewport={"width": 1500, "height": 1250})
            page.goto(url, wait_until="domcontentloaded")
            label = page.locator(".js-plotly-plot .slider-container text.slider-label", has_text="frame").first
            label.wait_for(timeout=120_000)
            page.get_by_text("MPJPE per frame").first.wait_for(timeout=60_000)
            first = time.perf_counter() - t0

            def frame() -> int:
                return int(re.findall(r"\d+", label.text_content() or "0")[0])

            page.locator(".js-plotly-plot .updatemenu-button").first.click()
            f0, s0 = frame(), time.perf_counter()
            while frame() < f0 + 30:
                time.sleep(0.01)
            step = (time.perf_counter() - s0) / (frame() - f0)
            page.locator(".js-plotly-plot .updatemenu-button").nth(1).click()

            box = page.locator("[data-testid='stSelectbox']", has_text="Held-out sequence").first
            box.locator("[role=combobox], input").first.click()
            option = page.get_by_role("option").nth(5)
            name = option.inner_text().split(" (")[0]
            s0 = time.perf_counter()
            option.click()
            page.locator("[data-testid='stCaptionContainer']", has_text=name).first.wait_for(timeout=60_000)
            page.locator(".js-plotly-plot .slider-container text.slider-label", has_text="frame").first.wait_for()
            page.wait_for_function("() => !document.querySelector('[data-testid=stStatusWidget]')", timeout=60_000)
            switch = time.perf_counter() - s0
            b.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    print(f"launch to first drawn page: {first:.1f} s (target <= 10)")
    print(f"frame step (client-side play): {step:.3f} s (target <= 0.3)")
    print(f"sequence switch: {switch:.2f} s (target <= 2)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
