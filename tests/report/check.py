#!/usr/bin/env python3
"""Checks wgf's review page in a real headless browser (Debian's chromium), standard library only.

usage: check.py REPORT/index.html FIGURES_DIR SCREENSHOT.png

- every link and image source is relative (offline: no http, no CDN) and resolves to an existing file, every
  #anchor to an element id; the page has no <script> (no JavaScript framework);
- every figure has a caption, and the page shows one figure per PNG in the figures directory;
- loaded in chromium (a copy with a small probe script injected): no console message, no error event, every image
  loaded (naturalWidth > 0);
- a screenshot is written to SCREENSHOT.png.
"""
import html
import json
import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

CHROMIUM = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run"]

PROBE = """<script>
window.__wgf = [];
window.addEventListener('error', e => window.__wgf.push(e.target && e.target.src ? 'failed to load ' + e.target.src
  : String(e.message)), true);
for (const level of ['error', 'warn', 'log', 'info']) {
  const orig = console[level];
  console[level] = (...a) => { window.__wgf.push(level + ': ' + a.join(' ')); orig.apply(console, a); };
}
window.addEventListener('load', () => {
  const imgs = [...document.images];
  const broken = imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.getAttribute('src'));
  const pre = document.createElement('pre');
  pre.id = 'wgf-check';
  pre.textContent = JSON.stringify({images: imgs.length, broken: broken, errors: window.__wgf});
  document.body.appendChild(pre);
});
</script>"""


class Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs, self.ids, self.scripts, self.imgs = [], set(), 0, 0
        self.figures, self.captions, self.in_caption = 0, [], False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        for key in ("href", "src", "data"):
            if key in a:
                self.refs.append((tag, a[key]))
        self.scripts += tag == "script"
        self.imgs += tag == "img"
        self.figures += tag == "figure"
        if tag == "figcaption":
            self.in_caption = True
            self.captions.append("")

    def handle_endtag(self, tag):
        if tag == "figcaption":
            self.in_caption = False

    def handle_data(self, data):
        if self.in_caption:
            self.captions[-1] += data


def fail(msg):
    print(f"FAIL: {msg}")
    sys.exit(1)


def static_checks(page_path, figures_dir):
    page = Page()
    page.feed(page_path.read_text(encoding="utf-8"))
    if page.scripts:
        fail(f"{page_path}: {page.scripts} <script> element(s); the report must work without JavaScript")
    for tag, ref in page.refs:
        url = urlsplit(ref)
        if url.scheme or ref.startswith("//"):
            fail(f"<{tag}> links outside the report ({ref}); it must be offline and relative")
        if not url.path:
            if url.fragment not in page.ids:
                fail(f"<{tag}> links to #{url.fragment}, which no element has as id")
            continue
        target = (page_path.parent / unquote(url.path)).resolve()
        if not target.is_file():
            fail(f"<{tag}> link {ref} resolves to {target}, which does not exist")
    pngs = sorted(figures_dir.glob("*.png"))
    if page.figures != len(pngs) or page.imgs != len(pngs):
        fail(f"{page.figures} <figure>s and {page.imgs} <img>s in the page, {len(pngs)} PNG files in {figures_dir}")
    short = [c for c in page.captions if len(c.split()) < 8]
    if len(page.captions) != page.figures or short:
        fail(f"{page.figures} figures, {len(page.captions)} captions; captions under 8 words: {short}")
    print(f"== static: {len(page.refs)} links and sources resolve, {page.figures} figures with captions, no script")
    return page


def browser_checks(page_path, page):
    text = page_path.read_text(encoding="utf-8")
    probe = page_path.with_name("index.check.html")
    probe.write_text(text.replace("<head>", "<head>\n" + PROBE, 1), encoding="utf-8")
    try:
        run = subprocess.run(CHROMIUM + ["--enable-logging=stderr", "--v=0", "--virtual-time-budget=20000",
                                         "--dump-dom", probe.as_uri()],
                             capture_output=True, text=True, timeout=300)
    finally:
        probe.unlink()
    start = run.stdout.find('<pre id="wgf-check">')
    if start < 0:
        fail(f"chromium (exit {run.returncode}) gave no probe result; stderr:\n{run.stderr[-2000:]}")
    result = json.loads(html.unescape(run.stdout[start + len('<pre id="wgf-check">'):].split("</pre>", 1)[0]))
    console = [l for l in run.stderr.splitlines() if ":CONSOLE" in l]
    if result["errors"] or console:
        fail(f"console messages or errors while loading: {result['errors'] + console}")
    if result["images"] != page.imgs or result["broken"]:
        fail(f"{result['images']} images in the browser (page has {page.imgs}); not loaded: {result['broken']}")
    print(f"== chromium: page loaded, no console message, {result['images']} images loaded (naturalWidth > 0)")


def screenshot(page_path, shot):
    run = subprocess.run(CHROMIUM + ["--window-size=1280,1600", f"--screenshot={shot}", page_path.as_uri()],
                         capture_output=True, text=True, timeout=300)
    data = shot.read_bytes() if shot.is_file() else b""
    if not data.startswith(b"\x89PNG") or len(data) < 10_000:
        fail(f"no screenshot at {shot} (chromium exit {run.returncode}): {run.stderr[-1000:]}")
    print(f"== screenshot: {shot} ({len(data)} bytes)")


def main():
    page_path, figures_dir, shot = Path(sys.argv[1]).resolve(), Path(sys.argv[2]), Path(sys.argv[3]).resolve()
    page = static_checks(page_path, figures_dir)
    browser_checks(page_path, page)
    screenshot(page_path, shot)


if __name__ == "__main__":
    main()
