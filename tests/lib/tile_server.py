"""A map tile server for tests/integration/web.sh: answers every GET with the same 256x256 PNG
and writes each path it was asked for to LOG, one a line.

    tile_server.py PORT LOG"""

import http.server
import struct
import sys
import zlib


def png(width, height, rgb):
    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))
    row = b"\x00" + bytes(rgb) * width
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(row * height)) + chunk(b"IEND", b""))


TILE = png(256, 256, (222, 232, 214))
LOG = open(sys.argv[2], "a", buffering=1)


class Tiles(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        LOG.write(self.path + "\n")
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(TILE)))
        self.send_header("Cache-Control", "max-age=3600")
        self.end_headers()
        self.wfile.write(TILE)

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Tiles).serve_forever()
