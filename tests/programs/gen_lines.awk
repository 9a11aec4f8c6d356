# Deterministic pseudo-random text: awk -v n=LINES -v seed=S -f gen_lines.awk
# Each line: "<hex key> <number> <word> <word>...". A Park-Miller generator
# (exact in double arithmetic, so mawk and gawk agree) drives everything.
function rnd(m) { x = (x * 16807) % 2147483647; return x % m }
BEGIN {
    x = seed + 1
    nw = split("alpha bravo charlie delta echo foxtrot golf hotel india juliet " \
               "kilo lima mike november oscar papa quebec romeo sierra tango " \
               "uniform victor whiskey xray yankee zulu malloc free arena slab " \
               "chunk extent tcache bin run page huge small large", w, " ")
    for (i = 0; i < n; i++) {
        line = sprintf("%08x %d", rnd(2147483647), rnd(1000000))
        k = 2 + rnd(6)
        for (j = 0; j < k; j++)
            line = line " " w[1 + rnd(nw)]
        print line
    }
}
