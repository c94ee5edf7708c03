#!/usr/bin/env python3
"""WebDriver test of the demo page in headless Chromium (Debian's chromium and
chromedriver; the W3C WebDriver protocol spoken with the standard library, so nothing is
installed or downloaded).

1. With WebGPU (SwiftShader on a machine without a GPU): load the page on a small workload,
   wait until it reports its results, check them (every method, finite numbers, FP32 the
   reference, RRS error below RTN's), change a control and check that the results update
   without a reload, and save a screenshot.
2. Without WebGPU: the page must say so in words, not stay blank; screenshot.

Run after scripts/web-build.sh:  python3 web/tests/page.py [--out DIR]
"""

import argparse
import base64
import json
import math
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import serve  # noqa: E402  (web/serve.py)

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
HEADLESS = ["--headless=new", "--no-sandbox", "--window-size=1100,2000"]
WEBGPU = [
    "--enable-unsafe-webgpu",
    "--enable-features=Vulkan",
    "--use-vulkan=swiftshader",
    "--use-angle=swiftshader",
]
METHODS = ["fp32", "rtn", "smoothquant", "quarot", "rs", "rrs"]
# Small enough for SwiftShader on 2 CPU cores (a few seconds per method).
QUERY = "tokens=256&channels=1024&out_features=256&iters=1"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class WebDriver:
    """The few W3C WebDriver commands the test needs, over HTTP to chromedriver."""

    def __init__(self, args):
        self.port = free_port()
        self.proc = subprocess.Popen(
            [CHROMEDRIVER, f"--port={self.port}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + 30
        while True:
            try:
                if self._call("GET", "/status")["ready"]:
                    break
            except (urllib.error.URLError, ConnectionError):
                pass
            if time.time() > deadline:
                raise RuntimeError("chromedriver did not start")
            time.sleep(0.2)
        caps = {
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
                }
            }
        }
        self.session = self._call("POST", "/session", caps)["sessionId"]

    def _call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                return json.loads(r.read())["value"]
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"WebDriver {method} {path}: {e.read().decode()[:500]}")

    def cmd(self, method, path, body=None):
        return self._call(method, f"/session/{self.session}{path}", body)

    def get(self, url):
        self.cmd("POST", "/url", {"url": url})

    def js(self, script, *args):
        return self.cmd("POST", "/execute/sync", {"script": script, "args": list(args)})

    def screenshot(self, path):
        png = base64.b64decode(self.cmd("GET", "/screenshot"))
        with open(path, "wb") as f:
            f.write(png)
        print(f"screenshot: {path}")

    def wait(self, script, timeout, what):
        """Poll `script` until it returns something truthy."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            v = self.js(script)
            if v:
                return v
            time.sleep(0.5)
        status = self.js("return document.getElementById('status').textContent")
        raise AssertionError(f"timed out after {timeout} s waiting for {what}; status: {status}")

    def quit(self):
        try:
            self.cmd("DELETE", "")
        finally:
            self.proc.terminate()
            self.proc.wait()


def wait_for_run(d, runs, timeout):
    """Wait until the page has finished `runs` runs (or failed); return its status line."""
    state, _, text = d.wait(
        "const s = document.getElementById('status');"
        "const v = [s.dataset.state, Number(s.dataset.runs || 0), s.textContent];"
        f"return (v[0] === 'error' || v[0] === 'unsupported' || v[1] >= {runs}) && v;",
        timeout,
        f"run {runs} to finish",
    )
    assert state == "done", f"the page reports {state}: {text}"
    return text


def check_results(d):
    results = json.loads(d.js("return document.getElementById('report').textContent"))
    by = {r["method"]: r for r in results}
    assert sorted(by) == sorted(METHODS), f"methods reported: {sorted(by)}"
    for r in results:
        for key in ["rel_error", "a4_rel_error", "ms"]:
            assert math.isfinite(r[key]) and r[key] >= 0, f"{r['method']} {key} = {r[key]}"
    assert by["fp32"]["rel_error"] == 0, by["fp32"]
    for m in METHODS[1:]:
        assert 0 < by[m]["rel_error"] < 2, f"{m}: rel error {by[m]['rel_error']}"
    rrs, rtn = by["rrs"]["rel_error"], by["rtn"]["rel_error"]
    assert rrs < rtn, f"RRS error {rrs} is not below RTN's {rtn}"
    rows = d.js("return document.querySelectorAll('#results tbody tr').length")
    assert rows == len(METHODS), f"{rows} table rows"
    return by


def test_demo(base, out):
    d = WebDriver(HEADLESS + WEBGPU)
    try:
        t0 = time.time()
        d.get(f"{base}/index.html?{QUERY}")
        wait_for_run(d, 1, 600)
        adapter = d.js("return document.getElementById('adapter').textContent")
        assert "dot" in adapter.lower(), f"adapter section: {adapter!r}"
        by = check_results(d)
        print(f"demo page: first run in {time.time() - t0:.1f} s; "
              + ", ".join(f"{m} {by[m]['rel_error']:.4f}" for m in METHODS))
        for canvas in ["errors", "magnitudes"]:
            painted = d.js(
                "const c = document.getElementById(arguments[0]);"
                "const p = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
                "let n = 0; for (let i = 0; i < p.length; i += 4) if (p[i] < 200) n++; return n;",
                canvas,
            )
            assert painted > 500, f"canvas {canvas} looks empty ({painted} dark pixels)"
        d.screenshot(os.path.join(out, "web-demo.png"))

        # Change the group size in place: the page re-runs without reloading.
        d.js("window.__sameDocument = true;")
        d.js(
            "const g = document.querySelector('select[name=group]'); g.value = '64';"
            "g.dispatchEvent(new Event('input', { bubbles: true }));"
        )
        wait_for_run(d, 2, 600)
        assert d.js("return window.__sameDocument === true"), "the page reloaded"
        workload = d.js("return document.getElementById('workload').textContent")
        assert "group 64" in workload, f"workload line after the change: {workload!r}"
        by64 = check_results(d)
        print(f"demo page: re-run with group 64 without reload: rrs {by64['rrs']['rel_error']:.4f}, "
              f"rtn {by64['rtn']['rel_error']:.4f}")
        d.screenshot(os.path.join(out, "web-demo-group64.png"))
    finally:
        d.quit()


def test_no_webgpu(base, out):
    # No --enable-unsafe-webgpu and no GPU process: no WebGPU adapter.
    d = WebDriver(HEADLESS + ["--disable-gpu"])
    try:
        d.get(f"{base}/index.html?{QUERY}")
        state = d.wait(
            "const s = document.getElementById('status').dataset.state;"
            "return s !== 'loading' && s !== 'running' && s;",
            120,
            "the page to settle",
        )
        text = d.js("return document.getElementById('unsupported').textContent")
        assert state == "unsupported", f"state {state}"
        assert "WebGPU" in text and len(text) > 40, f"message: {text!r}"
        print(f"without WebGPU the page says: {text[:120]}…")
        d.screenshot(os.path.join(out, "web-no-webgpu.png"))
    finally:
        d.quit()


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default="target", help="where screenshots go")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    out = os.path.abspath(args.out)
    httpd = serve.server(0, quiet=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://localhost:{httpd.server_address[1]}"
    test_demo(base, out)
    test_no_webgpu(base, out)
    httpd.shutdown()
    print("web page tests: ok")


if __name__ == "__main__":
    main()
