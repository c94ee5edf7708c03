#!/usr/bin/env python3
"""Serve web/ over HTTP on localhost, with the MIME types the page needs (application/wasm
for the module, text/javascript for the ES modules). Used by scripts/web.sh and by the
WebDriver test (web/tests/page.py)."""

import argparse
import functools
import http.server
import os

ROOT = os.path.dirname(os.path.abspath(__file__))


class Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".wasm": "application/wasm",
        ".js": "text/javascript",
        ".css": "text/css",
        ".html": "text/html",
    }

    def end_headers(self):
        # Always serve the latest build.
        self.send_header("Cache-Control", "no-store")
        super().end_headers()


class QuietHandler(Handler):
    def log_message(self, *args):
        pass


def server(port, quiet=False):
    """An HTTP server for web/ on 127.0.0.1:port (0: any free port)."""
    handler = functools.partial(QuietHandler if quiet else Handler, directory=ROOT)
    return http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--port", type=int, default=8000)
    args = ap.parse_args()
    if not os.path.exists(os.path.join(ROOT, "pkg", "rrs_web.js")):
        raise SystemExit("web/pkg is missing: build it first with scripts/web-build.sh")
    with server(args.port) as s:
        s.serve_forever()
