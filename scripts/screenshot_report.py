"""Screenshot a jaxkd report.html in a real headless browser (docs tooling, not part of jaxkd).

    python scripts/screenshot_report.py runs/reproduce-quick/report.html OUT_DIR [--chromium PATH]

Writes OUT_DIR/report-top.png (the page as it opens), and one screenshot scrolled to each of the
report's summary findings, key figures and theory checks (report-findings.png,
report-key-figures.png, report-theory.png). Needs a Chromium on disk (Debian: apt-get install
chromium) and Playwright (pip install playwright; its browser download is never used: the
script drives the Chromium at --chromium). Without Playwright it falls back to Chromium's own
--screenshot, which can take the top of the page only.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--hide-scrollbars"]
VIEW = {"width": 1400, "height": 1000}
SECTIONS = {"report-findings.png": "summary-findings", "report-key-figures.png": "key-figures",
            "report-theory.png": "theory"}


def with_playwright(page_path: Path, out: Path, chromium: str) -> list[Path]:
    from playwright.sync_api import sync_playwright

    written = []
    with sync_playwright() as p:  # launch() gives the browser a fresh temporary profile
        browser = p.chromium.launch(executable_path=chromium, args=FLAGS)
        page = browser.new_page(viewport=VIEW)
        page.goto(page_path.resolve().as_uri(), wait_until="load")
        page.screenshot(path=out / "report-top.png")
        written.append(out / "report-top.png")
        for name, anchor in SECTIONS.items():
            if page.evaluate(f"document.getElementById('{anchor}') !== null"):
                page.evaluate(f"document.getElementById('{anchor}').scrollIntoView()")
                page.screenshot(path=out / name)
                written.append(out / name)
        browser.close()
    return written


def with_chromium(page_path: Path, out: Path, chromium: str) -> list[Path]:
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([chromium, "--headless", *FLAGS, f"--user-data-dir={profile}",
                        f"--window-size={VIEW['width']},{VIEW['height']}", "--virtual-time-budget=5000",
                        f"--screenshot={out / 'report-top.png'}", page_path.resolve().as_uri()],
                       check=True, capture_output=True, timeout=120)
    return [out / "report-top.png"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path, help="a report.html")
    parser.add_argument("out", type=Path, help="folder for the PNG files (created)")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium",
                        help="the Chromium executable (default: chromium on PATH)")
    args = parser.parse_args(argv)
    if not args.report.is_file():
        parser.error(f"{args.report} does not exist")
    if not Path(args.chromium).is_file():
        parser.error(f"no Chromium at {args.chromium}; install it (apt-get install chromium) or pass --chromium")
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        import playwright  # noqa: F401
    except ImportError:
        written = with_chromium(args.report, args.out, args.chromium)
    else:
        written = with_playwright(args.report, args.out, args.chromium)
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
