#!/usr/bin/env python3
"""Loopback recording proxy: forwards every request to TARGET and appends one JSON line
per exchange (request method/path/headers/body, response status/headers/body) to LOG.
Streams responses through chunk by chunk so SSE clients see events as they come.

usage: recproxy.py LISTEN_PORT TARGET_URL LOG_FILE
"""
import http.client
import json
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(sys.argv[1])
TARGET = urllib.parse.urlparse(sys.argv[2])
LOG = sys.argv[3]
LOCK = threading.Lock()
HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
       "proxy-connection", "content-length", "host", "accept-encoding"}


def body_value(raw):
    try:
        return json.loads(raw)
    except Exception:
        return raw.decode("utf-8", "replace")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def handle_any(self):
        n = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(n) if n else b""
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            raw = b""
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                raw += self.rfile.read(size)
                self.rfile.readline()
        rec = {
            "t": time.time(),
            "method": self.command,
            "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": body_value(raw) if raw else None,
        }
        conn = http.client.HTTPConnection(TARGET.hostname, TARGET.port, timeout=600)
        fwd = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        fwd["Host"] = f"{TARGET.hostname}:{TARGET.port}"
        fwd["Content-Length"] = str(len(raw))
        try:
            conn.request(self.command, self.path, body=raw, headers=fwd)
            resp = conn.getresponse()
        except Exception as e:
            rec["error"] = repr(e)
            self.send_response(502)
            self.send_header("content-length", "0")
            self.end_headers()
            self._write(rec)
            return
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in HOP:
                self.send_header(k, v)
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        out = b""
        while True:
            chunk = resp.read1(65536)
            if not chunk:
                break
            out += chunk
            try:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
            except Exception:
                break
        try:
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except Exception:
            pass
        rec["status"] = resp.status
        rec["response_headers"] = {k.lower(): v for k, v in resp.getheaders()}
        rec["response"] = out.decode("utf-8", "replace")
        self._write(rec)

    def _write(self, rec):
        with LOCK, open(LOG, "a") as f:
            f.write(json.dumps(rec) + "\n")

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = handle_any


ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
