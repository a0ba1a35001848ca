"""Viewer benchmark in Chromium against a running `micro serve` (not a test: figures to report).

    python tests/bench_viewer.py http://127.0.0.1:5001/

- pan: from each pointermove of a drag to the next animation frame — is the image already
  moved then (one frame), and how long the handler took;
- window/level: the time the scan viewer's repaint takes in the frame after each move of a
  right-drag on a 512² CT (LUT over the raw HU, putImageData, drawImage, overlays);
- page weight: the lab's bytes before images (HTML, CSS, JS, JSON), as transferred and decoded.
"""

from __future__ import annotations

import statistics
import sys

from playwright.sync_api import sync_playwright

PROBE = """() => {
  window.__pan = [];
  const c = document.getElementById('view-a');
  window.addEventListener('pointermove', (e) => {
    const t0 = e.timeStamp;
    requestAnimationFrame((ts) => window.__pan.push({frame: ts - t0, moved: c.style.transform !== ''}));
  }, {capture: true});
  window.addEventListener('pointermove', (e) => { window.__pan.push({handler: performance.now() - e.timeStamp}); });
}"""

WL = """() => {
  window.__wl = [];
  window.__paint = [];
  const c = document.getElementById('view-a');
  window.addEventListener('pointermove', () => {
    requestAnimationFrame((ts) => {
      window.__wl.push(performance.now() - ts);
      window.__paint.push(Number(c.dataset.paintMs));
    });
  });
}"""


def main(base: str) -> None:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                              args=["--no-sandbox", "--disable-gpu"])
        pg = b.new_page(viewport={"width": 1280, "height": 900})
        pg.goto(base + "lab.html")
        pg.wait_for_function("() => document.getElementById('status').textContent.includes('view')")
        pg.wait_for_timeout(1500)
        weight = pg.evaluate("""() => {
          const all = [performance.getEntriesByType('navigation')[0], ...performance.getEntriesByType('resource')];
          const pages = all.filter((e) => !/\\/r\\/|\\.(png|jpg|webp|svg)$/.test(e.name));
          const sum = (k) => pages.reduce((s, e) => s + (e[k] || 0), 0);
          return {n: pages.length, transfer: sum('transferSize'), encoded: sum('encodedBodySize'), decoded: sum('decodedBodySize'),
                  files: pages.map((e) => [e.name.split('/').pop().split('?')[0], e.decodedBodySize])};
        }""")
        pg.evaluate(PROBE)
        box = pg.locator("#view-a").bounding_box()
        cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        for _ in range(5):
            pg.mouse.move(cx, cy)
            pg.mouse.down()
            for i in range(1, 21):
                pg.mouse.move(cx + 3 * i, cy + i)
            pg.mouse.up()
            pg.wait_for_timeout(800)
        pan = pg.evaluate("() => window.__pan")
        frames = [e["frame"] for e in pan if "frame" in e]
        moved = [e["moved"] for e in pan if "moved" in e]
        handler = [e["handler"] for e in pan if "handler" in e]

        pg.goto(base + "imaging.html?instrument=ct-64-slice&phantom=water-cylinder")
        pg.wait_for_function("() => document.getElementById('view-a').dataset.scan === 'raw'",
                             timeout=60000)
        pg.evaluate(WL)
        box = pg.locator("#view-a").bounding_box()
        cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        for _ in range(5):
            pg.mouse.move(cx, cy)
            pg.mouse.down(button="right")
            for i in range(1, 21):
                pg.mouse.move(cx + 4 * i, cy + 2 * i)
                pg.wait_for_timeout(20)
            pg.mouse.up(button="right")
        wl = pg.evaluate("() => window.__wl")
        paint = pg.evaluate("() => window.__paint")
        size = pg.eval_on_selector("#view-a", "c => [c.width, c.height]")
        b.close()
    q = statistics.quantiles
    print(f"pan: {len(frames)} moves; image already moved at the next frame in "
          f"{sum(moved)}/{len(moved)}; next frame after the event: median "
          f"{statistics.median(frames):.1f} ms, p95 {q(frames, n=20)[-1]:.1f} ms; handler "
          f"median {statistics.median(handler):.2f} ms")
    print(f"window/level on {size[0]}×{size[1]}: {len(wl)} repaints, median "
          f"{statistics.median(wl):.2f} ms, p95 {q(wl, n=20)[-1]:.2f} ms, max {max(wl):.2f} ms "
          f"(frame start to after the repaint); the repaint itself: median "
          f"{statistics.median(paint):.2f} ms, p95 {q(paint, n=20)[-1]:.2f} ms, max {max(paint):.2f} ms")
    print(f"lab page before images: {weight['n']} files, transferred {weight['transfer'] / 1024:.1f} KiB, "
          f"decoded {weight['decoded'] / 1024:.1f} KiB")
    for name, n in sorted(weight["files"], key=lambda f: -f[1]):
        print(f"  {name or 'lab.html'}: {n / 1024:.1f} KiB")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:5001/")
