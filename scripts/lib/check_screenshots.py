"""Check that screenshots of the documentation site show a rendered page (scripts/docs).

A page that rendered with the theme has its dark side bar (a good share of dark pixels) and
text in many shades; a blank page, an error page or a page without its style sheet has not.
Reads 8-bit RGB/RGBA PNGs (what Chromium writes) with the standard library only.
"""
import struct
import sys
import zlib


def pixels(path):
    """Width, height and the pixel rows (RGB tuples) of an 8-bit RGB or RGBA PNG."""
    data = open(path, "rb").read()
    position, chunks = 8, []
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        chunks.append((kind, data[position + 8:position + 8 + length]))
        position += 12 + length
    width, height, depth, colour, _compression, _filter, interlace = struct.unpack(">IIBBBBB", dict(chunks)[b"IHDR"])
    if depth != 8 or colour not in (2, 6) or interlace:
        sys.exit("{0}: unexpected PNG format (depth {1}, colour type {2}, interlace {3})".format(path, depth, colour, interlace))
    step = 3 if colour == 2 else 4
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    stride, previous, result = width * step, bytearray(width * step), []
    for row in range(height):
        start = row * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for i in range(stride):
            left = line[i - step] if i >= step else 0
            up = previous[i]
            corner = previous[i - step] if i >= step else 0
            if kind == 1:
                line[i] = (line[i] + left) & 255
            elif kind == 2:
                line[i] = (line[i] + up) & 255
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 255
            elif kind == 4:
                guess = left + up - corner
                nearest = min((abs(guess - left), 0, left), (abs(guess - up), 1, up), (abs(guess - corner), 2, corner))[2]
                line[i] = (line[i] + nearest) & 255
        result.append([tuple(line[i:i + 3]) for i in range(0, stride, step)])
        previous = line
    return width, height, result


def main(paths):
    problems = []
    for path in paths:
        width, height, rows = pixels(path)
        sample = [pixel for row in rows[::4] for pixel in row[::4]]
        dark = sum(1 for pixel in sample if sum(pixel) < 200) / len(sample)
        colours = len(set(sample))
        verdict = "rendered" if dark >= 0.05 and colours >= 50 else "NOT rendered"
        print("==> {0}: {1} ({2}x{3}, {4:.0%} dark pixels, {5} colours)".format(
            verdict, path.rsplit("/", 1)[-1], width, height, dark, colours), file=sys.stderr)
        if verdict != "rendered":
            problems.append(path)
    if problems:
        sys.exit("These pages do not look rendered (no theme side bar or no text): " + ", ".join(problems))


if __name__ == "__main__":
    main(sys.argv[1:])
