"""The README's screenshots, taken afresh: a real server, Debian's chromium, a projector's 1280×720.

Each view is a page address (the app's links carry every setting), opened in a fresh session,
waited for until it stops changing (pressing its Run button where a long run waits for one), and
saved as what the first screen shows, in 256 colours to keep the repository small.

    python scripts/readme_screenshots.py [--out assets/screenshots] [--only playground,saliency]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from PIL import Image  # noqa: E402

from _chromium import chromium, new_page, streamlit_server  # noqa: E402

PHOTO = "model=imagenet+(pretrained)&input=Photo+(sample,+upload+or+camera)&sample=chelsea"
VIEWS = {  # file name -> (address, the section heading shown at the top or None, what the README says)
    "playground": ("kernel_playground?preset=Sobel+x", None,
                   "The kernel playground: a Sobel filter on a photo, the result beside it"),
    "feature_maps": (f"feature_maps?{PHOTO}", "2 · The prediction",
                     "Feature maps: a cat photo through an ImageNet network, its top classes and every stage"),
    "saliency": (f"saliency?{PHOTO}", "3 · Six ways to explain it",
                 "Saliency: six methods side by side on the cat photo, ImageNet network"),
    "occlusion": (f"occlusion?{PHOTO}", "3 · Where the model looked",
                  "Occlusion: a 32-pixel patch slid over the cat photo, the probability map"),
    "presenter": ("kernel_playground?preset=Gaussian+blur&presenter=1", None,
                  "Presenter mode on the kernel playground: larger text for the back row"),
}

SNAPSHOT = """() => [document.querySelector('[data-testid="stMain"]')?.innerText.length,
    document.querySelectorAll('[data-testid="stPlotlyChart"] svg.main-svg').length,
    document.querySelectorAll('[data-testid="stSkeleton"], [data-testid="stSpinner"]').length,
    document.querySelectorAll('[data-testid="stElementContainer"][data-stale="true"]').length]"""


def settle(page, seconds: float = 120) -> None:
    """Until the page is the same for three looks in a row with nothing loading."""
    last, same, deadline = None, 0, time.time() + seconds
    while time.time() < deadline and same < 3:
        page.wait_for_timeout(500)
        now = page.evaluate(SNAPSHOT)
        same = same + 1 if now == last and not now[2] and not now[3] else 0
        last = now


def take(browser, url: str, heading: str | None, path: Path) -> None:
    context, page = new_page(browser)
    try:
        page.goto(url)
        page.get_by_test_id("stMain").locator("h1").first.wait_for()
        settle(page)
        run = page.get_by_role("button", name="Run ")
        if run.count():  # a run estimated as long waits for its button
            run.first.click()
            settle(page)
        if heading:  # the results, scrolled to the top of the screen as a lecturer would
            page.get_by_role("heading", name=heading).first.evaluate("e => e.scrollIntoView()")
            page.wait_for_timeout(800)
        page.mouse.move(2, 2)  # no chart's toolbar shown under the pointer
        page.wait_for_timeout(300)
        page.screenshot(path=str(path))
    finally:
        context.close()
    Image.open(path).convert("RGB").quantize(256).save(path, optimize=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "assets" / "screenshots"))
    parser.add_argument("--only", default=",".join(VIEWS))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with streamlit_server() as base, chromium() as browser:
        for name in args.only.split(","):
            address, heading, what = VIEWS[name]
            path = out / f"{name}.png"
            take(browser, f"{base}/{address}", heading, path)
            print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}  {path.stat().st_size // 1024} KB  {what}")


if __name__ == "__main__":
    main()
