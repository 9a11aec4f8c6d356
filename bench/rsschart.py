#!/usr/bin/env python3
"""Resident size over time as an SVG line chart (stdlib only), for
bench/run.sh when gnuplot is not installed.

usage: rsschart.py [--title T] RSS.csv RSS.svg

RSS.csv: a header line, then "alloc,run,phase,t_ms,rss_kb,rss_mb" rows (the
freeorder_rss.csv that bench/run.sh writes), in time order per allocator.
Drawn as one line per allocator (x: ms since the start of the benchmark,
y: MB), in the order the allocators first appear, with a legend that names
the run each line comes from.
"""
import csv
import math
import sys
from xml.sax.saxutils import escape

# Same palette, frame and command line as the benchmark chart (this
# script's folder is on sys.path when it runs).
from svgchart import COLORS, parse_args, svg_start, svg_write


def read_csv(path):
    """Returns [(label, [(t_ms, mb), ...]), ...] in first-seen order."""
    order, pts, runs = [], {}, {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            try:
                a = row["alloc"]
                t = float(row["t_ms"])
                mb = float(row["rss_mb"])
            except (KeyError, TypeError, ValueError):
                continue
            if a not in pts:
                order.append(a)
                pts[a] = []
                runs[a] = row.get("run", "")
            pts[a].append((t, mb))
    out = []
    for a in order:
        label = "%s (run %s)" % (a, runs[a]) if runs[a] else a
        out.append((label, sorted(pts[a])))
    return out


def nice_step(span, n=5):
    raw = span / n if span > 0 else 1
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if m * mag >= raw:
            return m * mag
    return 10 * mag


def chart(series, out, title):
    width, height = 1000, 500
    left, right, top, bottom = 70, 190, 50, 50
    pw, ph = width - left - right, height - top - bottom
    tall = [p[0] for _, pts in series for p in pts] + [1]
    yall = [p[1] for _, pts in series for p in pts] + [1]
    tstep = nice_step(max(tall))
    ystep = nice_step(max(yall) * 1.05)
    tmax = tstep * math.ceil(max(tall) / tstep)
    ymax = ystep * math.ceil(max(yall) * 1.05 / ystep)

    def X(t):
        return left + max(0.0, t) / tmax * pw

    def Y(v):
        return top + ph - max(0.0, v) / ymax * ph

    s = svg_start(width, height, title)
    for k in range(int(round(ymax / ystep)) + 1):
        v = k * ystep
        s.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/>'
                 % (left, width - right, Y(v), Y(v)))
        s.append('<text x="%d" y="%.1f" text-anchor="end">%g</text>'
                 % (left - 6, Y(v) + 4, v))
    for k in range(int(round(tmax / tstep)) + 1):
        t = k * tstep
        s.append('<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#eee"/>'
                 % (X(t), X(t), top, top + ph))
        s.append('<text x="%.1f" y="%d" text-anchor="middle">%g</text>'
                 % (X(t), height - bottom + 16, t))
    s.append('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#444"/>'
             % (left, top, pw, ph))
    s.append('<text x="%d" y="%d" text-anchor="middle">time since start (ms)</text>'
             % (left + pw // 2, height - 10))
    s.append('<text transform="translate(16,%d) rotate(-90)" text-anchor="middle">'
             'RSS (MB)</text>' % (top + ph // 2))
    for i, (name, pts) in enumerate(series):
        c = COLORS[i % len(COLORS)]
        d = " ".join(("M" if j == 0 else "L") + "%.1f,%.1f" % (X(t), Y(v))
                     for j, (t, v) in enumerate(pts))
        s.append('<path d="%s" fill="none" stroke="%s" stroke-width="2"/>' % (d, c))
        for t, v in pts:
            s.append('<circle cx="%.1f" cy="%.1f" r="2" fill="%s">'
                     '<title>%s: %.1f ms, %.2f MB</title></circle>'
                     % (X(t), Y(v), c, escape(name), t, v))
        s.append('<rect x="%d" y="%d" width="12" height="12" fill="%s"/>'
                 % (width - right + 14, top + 8 + 18 * i, c))
        s.append('<text x="%d" y="%d">%s</text>'
                 % (width - right + 30, top + 18 + 18 * i, escape(name)))
    svg_write(s, out)


def main(argv):
    parsed = parse_args(argv, "resident size over time")
    if parsed is None:
        print(__doc__, file=sys.stderr)
        return 2
    title, args = parsed
    series = [s for s in read_csv(args[0]) if s[1]]
    if not series:
        print("rsschart.py: no samples in %s" % args[0], file=sys.stderr)
        return 1
    chart(series, args[1], title)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
