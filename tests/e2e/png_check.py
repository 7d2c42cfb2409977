#!/usr/bin/env python3
"""Decodes a PNG screenshot (8-bit RGB or RGBA, not interlaced: what
Chromium writes) with the standard library and checks that the picture is
not blank against its background colour.

png_check.py SHOT.png BG_HEX MIN_INK_FRACTION MIN_COLOURS

Ink is a pixel that differs from BG by more than 64 in some channel; it
must cover at least MIN_INK_FRACTION of the image, and at least
MIN_COLOURS distinct saturated hues (the producers' lines) must appear.
Prints what it measured.
"""
import struct
import sys
import zlib


def decode(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        sys.exit("not a PNG")
    pos, idat, w = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if depth != 8 or ctype not in (2, 6) or interlace:
                sys.exit("unsupported PNG (depth %d, type %d)" % (depth, ctype))
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = w * bpp
    rows, prev, i = [], bytearray(stride), 0
    for _ in range(h):
        f = raw[i]
        line = bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + b) & 255
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return w, h, bpp, rows


def main():
    w, h, bpp, rows = decode(sys.argv[1])
    bg = bytes.fromhex(sys.argv[2])
    min_ink, min_colours = float(sys.argv[3]), int(sys.argv[4])
    ink, hues = 0, set()
    for row in rows:
        for x in range(0, w * bpp, bpp):
            r, g, b = row[x], row[x + 1], row[x + 2]
            if max(abs(r - bg[0]), abs(g - bg[1]), abs(b - bg[2])) > 64:
                ink += 1
            mx, mn = max(r, g, b), min(r, g, b)
            if mx - mn > 80:  # saturated: a line colour, not grey text
                hues.add((r // 48, g // 48, b // 48))
    frac = ink / float(w * h)
    print("png %dx%d: ink %.4f, %d saturated colours" % (w, h, frac, len(hues)))
    if frac < min_ink or len(hues) < min_colours:
        sys.exit("blank or colourless: ink %.4f < %s or colours %d < %d" %
                 (frac, min_ink, len(hues), min_colours))


if __name__ == "__main__":
    main()
