#!/usr/bin/env bash
# Copy the browser tests' latest dashboard and run page screenshots into docs/images/ for
# the README (README.md#browser-tests), cut to the first 1280×1600 px and shrunk with
# pngquant when it is installed. Run the browser tests first.
set -euo pipefail
cd "$(dirname "$0")/.."
shots=${BORGUI_TEST_ARTIFACTS:-$(pwd)/test-artifacts}/screenshots
mkdir -p docs/images
for pair in dashboard:dashboard run-finished:run; do
    source="$shots/${pair%%:*}.png" target="docs/images/${pair##*:}.png"
    [ -f "$source" ] || { echo "readme-screenshots: no $source (run the browser tests first)" >&2; exit 1; }
    .venv/bin/python - "$source" "$target" <<'PY'
import base64
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

# Chromium crops: an <img> of the screenshot in a 1280-wide window, the first 1600 px.
source, target = sys.argv[1], sys.argv[2]
with sync_playwright() as p:
    browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"])
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    data = base64.b64encode(Path(source).read_bytes()).decode()
    page.set_content(f'<body style="margin:0"><img src="data:image/png;base64,{data}" style="display:block">')
    height = min(page.evaluate("document.images[0].naturalHeight"), 1600)
    page.screenshot(path=target, full_page=True, clip={"x": 0, "y": 0, "width": 1280, "height": height})
    browser.close()
PY
    if command -v pngquant >/dev/null; then
        pngquant --force --skip-if-larger --quality 60-90 --output "$target" -- "$target" || true
    fi
    echo "$target: $(stat -c %s "$target") bytes"
done
