#!/usr/bin/env python3
"""SVG charts for bench/run.sh when gnuplot is not installed (stdlib only).

usage: svgchart.py [--title T] CHART.dat CHART.svg

CHART.dat: tab separated, a header "metric<TAB>alloc..." then one row per
metric with log2 of each allocator's result relative to the baseline (higher
is better) or NaN. Drawn as clustered bars from 0 (= same as the baseline).
(The resident-size-over-time chart is bench/rsschart.py.)
"""
import math
import sys
from xml.sax.saxutils import escape

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
          "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]


# Shared with bench/rsschart.py (it imports them from here): the palette,
# the chart's frame, and the command line.
def svg_start(width, height, title):
    """The opening of a chart: white background, centred title."""
    return ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
            'font-family="sans-serif" font-size="11">' % (width, height),
            '<rect width="100%" height="100%" fill="white"/>',
            '<text x="%d" y="24" font-size="14" text-anchor="middle">%s</text>'
            % (width // 2, escape(title))]


def svg_write(s, out):
    s.append('</svg>')
    with open(out, "w") as f:
        f.write("\n".join(s) + "\n")


def parse_args(argv, title):
    """[--title T] IN OUT -> (title, [IN, OUT]); None when the words are off."""
    args = []
    i = 0
    while i < len(argv):
        if argv[i] == "--title" and i + 1 < len(argv):
            title = argv[i + 1]
            i += 2
        else:
            args.append(argv[i])
            i += 1
    if len(args) != 2:
        return None
    return title, args


def read_chart(path):
    with open(path) as f:
        lines = [l.rstrip("\n") for l in f if l.strip()]
    head = lines[0].split("\t")[1:]
    rows = []
    for l in lines[1:]:
        parts = l.split("\t")
        vals = []
        for v in parts[1:]:
            try:
                x = float(v)
                vals.append(None if math.isnan(x) else x)
            except ValueError:
                vals.append(None)
        rows.append((parts[0], vals))
    return head, rows


def bars(head, rows, out, title):
    n = len(head)
    group_w = 12 * n + 10
    left, right, top, bottom = 170, 20, 60, 170
    width = max(left + right + max(1, len(rows)) * group_w, 120 * n + 100)
    height = 620
    plot_h = height - top - bottom
    vals = [v for _, vs in rows for v in vs if v is not None]
    lo = min([-1] + [math.floor(v) - 1 for v in vals])
    hi = max([1] + [math.ceil(v) + 1 for v in vals])

    def y(v):
        return top + (hi - v) / (hi - lo) * plot_h

    s = svg_start(width, height, title)
    for k in range(lo, hi + 1):
        yy = y(k)
        label = "%dx" % (1 << k) if k >= 0 else "1/%d" % (1 << -k)
        s.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="%s"/>'
                 % (left, width - right, yy, yy, "#444" if k == 0 else "#ddd"))
        s.append('<text x="%d" y="%.1f" text-anchor="end">%s</text>'
                 % (left - 6, yy + 4, label))
    for gi, (name, vs) in enumerate(rows):
        x0 = left + gi * group_w + 5
        for i, v in enumerate(vs):
            if v is None:
                continue
            y0, y1 = sorted((y(0), y(v)))
            s.append('<rect x="%d" y="%.1f" width="11" height="%.1f" fill="%s">'
                     '<title>%s %s: %.3gx</title></rect>'
                     % (x0 + 12 * i, y0, max(0.5, y1 - y0), COLORS[i % len(COLORS)],
                        escape(name), escape(head[i]), 2 ** v))
        cx = x0 + 6 * n
        s.append('<text transform="translate(%d,%d) rotate(-45)" font-size="9" '
                 'text-anchor="end">%s</text>' % (cx, top + plot_h + 12, escape(name)))
    for i, a in enumerate(head):
        lx = left + 10 + i * 110
        s.append('<rect x="%d" y="36" width="12" height="12" fill="%s"/>'
                 % (lx, COLORS[i % len(COLORS)]))
        s.append('<text x="%d" y="46">%s</text>' % (lx + 16, escape(a)))
    svg_write(s, out)


def main(argv):
    parsed = parse_args(argv, "benchmarks")
    if parsed is None:
        print(__doc__, file=sys.stderr)
        return 2
    title, args = parsed
    head, rows = read_chart(args[0])
    if rows:
        bars(head, rows, args[1], title)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
