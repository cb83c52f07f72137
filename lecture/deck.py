"""Serve the lecture deck the way `make present` does, and drive it in Debian's Chromium.

Used by tests/test_browser.py (the deck proven in a real browser) and by `make slides` (a PDF of
the live deck: one page per slide, as the audience sees it, with the widgets' figures).

    python lecture/deck.py pdf build/slides/lecture_imaml.pdf

Voila reads every presentation setting (reveal template, code hidden, reveal.js and jQuery served
from lecture/node_modules) from lecture/voila.json; only the port and the paths are given here.
"""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DECK = ROOT / "notebooks" / "lecture_imaml.ipynb"
ASSET = "voila/files/lecture/node_modules/reveal.js/dist/reveal.css"  # served by Voila itself
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SLIDE_SIZE = {"width": 1280, "height": 800}  # reveal width/height in lecture/voila.json

# A slide has rendered when it is the present one, Voila has turned every output of its cells
# into DOM (the JSON placeholders are gone: widgets are views now) and its images have decoded.
_SLIDE_RENDERED = """(i) => {
  const s = document.querySelectorAll('.reveal .slides > section')[i];
  if (!s || !s.classList.contains('present')) return false;
  if (s.querySelector('script[type="application/vnd.voila.cell-output+json"]')) return false;
  return Array.from(s.querySelectorAll('img')).every(im => im.complete && im.naturalWidth > 0);
}"""
_DECK_LOADED = """() => !!document.querySelector('.reveal.ready')
  && !document.querySelector('script[type="application/vnd.voila.cell-output+json"]')"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def voila_command(port, notebook=DECK):
    """The `make present` command, for 127.0.0.1:port, without opening a browser."""
    return [sys.executable, "-m", "voila", "--Voila.config_file_paths=lecture",
            f"--Voila.root_dir={ROOT}", "--Voila.ip=127.0.0.1", f"--port={port}",
            "--Voila.port_retries=0", "--no-browser", str(notebook)]


@contextlib.contextmanager
def serve(notebook=DECK, log_path=None, timeout=60.0):
    """Run Voila on a free port of 127.0.0.1; yield the deck URL; stop Voila and its kernels.

    Waits (at most `timeout` s) until Voila serves reveal.js from lecture/node_modules, which
    also proves the offline assets are in place. Voila's output goes to log_path (or a temp file).
    """
    port = free_port()
    if log_path is None:
        log_path = tempfile.NamedTemporaryFile(suffix="-voila.log", delete=False).name
    with open(log_path, "w") as log:
        proc = subprocess.Popen(voila_command(port, notebook), cwd=ROOT, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            url = f"http://127.0.0.1:{port}/"
            wait_http(url + ASSET, proc, timeout, log_path)
            yield url
        finally:
            _stop(proc)


def wait_http(url, proc, timeout, log_name, what="voila"):
    """Poll url until it answers 200; fail early, with the log's tail, if the server `proc` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}; log: {_tail(log_name)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{what} did not serve {url} within {timeout:.0f} s; log: {_tail(log_name)}")


def _tail(path, n=2000):
    return Path(path).read_text(errors="replace")[-n:]


def _stop(proc):
    """SIGTERM lets Voila shut its kernels down; SIGKILL the group if it does not exit."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


def launch(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def offline_page(browser):
    """A page that may reach 127.0.0.1 only, as in a lecture hall without internet.

    Returns (page, blocked): blocked lists the outside URLs the deck asked for (all refused).
    """
    page = browser.new_page(viewport=SLIDE_SIZE)
    blocked = []

    def route(r):
        if r.request.url.startswith(("http://127.0.0.1", "ws://127.0.0.1", "blob:", "data:")):
            r.continue_()
        else:
            blocked.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    return page, blocked


def open_deck(page, url, timeout=90.0):
    """Load the deck (Voila runs every cell first) until reveal is up and every output is drawn."""
    page.goto(url, timeout=timeout * 1e3, wait_until="commit")
    page.wait_for_function(_DECK_LOADED, timeout=timeout * 1e3, polling=100)


def slide_count(page):
    return page.evaluate("document.querySelectorAll('.reveal .slides > section').length")


def show_slide(page, i, timeout=5.0):
    """Navigate to slide i (reveal's URL hash) and wait until it has rendered; return seconds."""
    t0 = time.perf_counter()
    page.evaluate("(i) => { location.hash = '#/' + i; }", i)
    page.wait_for_function(_SLIDE_RENDERED, arg=i, timeout=timeout * 1e3, polling="raf")
    return time.perf_counter() - t0


def export_pdf(out, timeout=120.0):
    """One PDF page per slide: screenshots of the live deck (widgets and math as presented)."""
    from PIL import Image
    from playwright.sync_api import sync_playwright

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with serve() as url, sync_playwright() as pw:
        browser = launch(pw)
        page, _ = offline_page(browser)
        open_deck(page, url, timeout)
        page.add_style_tag(content=".reveal .controls, .reveal .progress { display: none; }")
        shots = []
        for i in range(slide_count(page)):
            show_slide(page, i, timeout=30)
            page.wait_for_timeout(300)  # let reveal finish laying the slide out
            shots.append(Image.open(_png(page)).convert("RGB"))
        browser.close()
    shots[0].save(out, save_all=True, append_images=shots[1:], resolution=96)
    return len(shots)


def _png(page):
    import io

    return io.BytesIO(page.screenshot())


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "pdf":
        sys.exit("usage: python lecture/deck.py pdf OUT.pdf")
    n = export_pdf(sys.argv[2])
    print(f"wrote {sys.argv[2]} ({n} slides)")
