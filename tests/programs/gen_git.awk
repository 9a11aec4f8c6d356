# A git fast-import stream: awk -v commits=N -f gen_git.awk | git fast-import
# Fixed authors and dates, so every object id is the same on every run.
# FILES files of about LINES lines; each commit rewrites a few of them,
# changing a fraction of their lines (so the packs get real deltas), and now
# and then deletes one and later brings it back.
function rnd(m) { x = (x * 16807) % 2147483647; return x % m }
function content(f, v,    s, l, L) {
    L = 40 + (f * 7) % 80
    s = ""
    for (l = 1; l <= L; l++) {
        if ((l + v) % 11 == 0)
            s = s sprintf("line %d of file %d: revision %d value %d\n", l, f, v, (l * 31 + v * 17 + f) % 1000)
        else
            s = s sprintf("line %d of file %d: stable text %d\n", l, f, (l * 13 + f) % 997)
    }
    return s
}
function data(s) { printf "data %d\n%s", length(s), s }
BEGIN {
    x = 12345
    nfiles = 40
    for (c = 1; c <= commits; c++) {
        t = 1600000000 + c * 3600
        print "commit refs/heads/main"
        print "mark :" c
        printf "author A U Thor <author@example.com> %d +0000\n", t
        printf "committer C O Mitter <committer@example.com> %d +0000\n", t + 60
        data(sprintf("generated commit %d\n\nTouches %d files.\n", c, 1 + c % 5))
        if (c > 1) print "from :" (c - 1)
        k = (c == 1) ? nfiles : 1 + c % 5
        for (i = 0; i < k; i++) {
            f = (c == 1) ? i : rnd(nfiles)
            if (c > 1 && rnd(40) == 0 && !(f in gone)) {
                printf "D dir%d/file%d.txt\n", f % 5, f
                gone[f] = 1
                continue
            }
            delete gone[f]
            ver[f]++
            printf "M 100644 inline dir%d/file%d.txt\n", f % 5, f
            data(content(f, ver[f] + c))
        }
        print ""
    }
}
