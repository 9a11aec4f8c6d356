# Summarises bench/run.sh's raw.csv: median, min and max of every
# (benchmark, metric, allocator) over the runs, one markdown table per kind of
# metric with the reference allocator's ratio to each other allocator and the
# geometric mean of those ratios at the bottom. POSIX awk (mawk is enough).
#
# Variables (-v): allocs="a,b,c" (column order), ref=NAME (ratio numerator,
# may be empty: no ratio columns), base=NAME (chart baseline), csv=FILE
# (medians are written there), chart=FILE (chart data: one row per metric,
# log2 of the speed/efficiency relative to `base`, higher is better).
# Input: raw.csv (run,bench,alloc,metric,value,unit,better) with a header.

function fmt(v,   a) {
    if (v == "") return "-"
    a = v < 0 ? -v : v
    if (a >= 1000) return sprintf("%.0f", v)
    if (a >= 100) return sprintf("%.1f", v)
    if (a >= 10) return sprintf("%.2f", v)
    if (a >= 1) return sprintf("%.3f", v)
    if (a >= 0.01) return sprintf("%.4f", v)
    if (a == 0) return "0"
    return sprintf("%.3g", v)
}

function fmtratio(r) {
    if (r == "") return "-"
    if (r >= 100) return sprintf("%.0f", r)
    if (r >= 10) return sprintf("%.1f", r)
    return sprintf("%.2f", r)
}

# Sorts vals[1..n] ascending (insertion sort: n is the number of runs).
function isort(vals, n,   i, j, t) {
    for (i = 2; i <= n; i++) {
        t = vals[i]
        for (j = i - 1; j >= 1 && vals[j] > t; j--) vals[j + 1] = vals[j]
        vals[j + 1] = t
    }
}

function group_of(unit, better) {
    if (better == "higher") return "throughput"
    if (unit == "ns" || unit == "us" || unit == "ms" || unit == "s") return "time"
    if (unit == "MB" || unit == "KB" || unit == "kB" || unit == "%") return "memory"
    return "factor"
}

BEGIN {
    FS = ","
    na = split(allocs, A, ",")
    ng = split("time,throughput,memory,factor", G, ",")
    title["time"] = "Time"
    title["throughput"] = "Throughput"
    title["memory"] = "Memory"
    title["factor"] = "Factors (slowdowns, overhead ratios)"
    nrows = 0
}

NR == 1 { next }
{
    b = $2; al = $3; m = $4; v = $5 + 0
    key = b SUBSEP m
    if (!(key in seen)) {
        seen[key] = 1
        nrows++
        rowkey[nrows] = key
        rowbench[nrows] = b
        rowmetric[nrows] = m
        unit[key] = $6
        better[key] = $7
    }
    k2 = key SUBSEP al
    cnt[k2]++
    val[k2, cnt[k2]] = v
}

END {
    # Medians, min, max.
    if (csv != "") print "bench,metric,unit,better,alloc,median,min,max,runs" > csv
    for (r = 1; r <= nrows; r++) {
        key = rowkey[r]
        for (i = 1; i <= na; i++) {
            k2 = key SUBSEP A[i]
            n = cnt[k2] + 0
            if (n == 0) continue
            for (j = 1; j <= n; j++) tmp[j] = val[k2, j]
            isort(tmp, n)
            med[k2] = (n % 2) ? tmp[(n + 1) / 2] : (tmp[n / 2] + tmp[n / 2 + 1]) / 2
            mn[k2] = tmp[1]
            mx[k2] = tmp[n]
            if (csv != "")
                printf "%s,%s,%s,%s,%s,%.6g,%.6g,%.6g,%d\n", rowbench[r], rowmetric[r], \
                    unit[key], better[key], A[i], med[k2], mn[k2], mx[k2], n > csv
        }
    }

    for (gi = 1; gi <= ng; gi++) {
        g = G[gi]
        # Directions present in this group (a group could mix them).
        for (d = 1; d <= 2; d++) {
            dir = (d == 1) ? "lower" : "higher"
            any = 0
            for (r = 1; r <= nrows; r++) {
                key = rowkey[r]
                if (group_of(unit[key], better[key]) == g && better[key] == dir) { any = 1; break }
            }
            if (!any) continue
            printf "\n### %s (%s is better)\n\n", title[g], dir
            if (ref != "")
                printf "Each cell: median [min, max] over the runs. Ratio columns: %s / other on the medians; %s 1 means %s is better.\n\n", \
                    ref, (dir == "lower" ? "below" : "above"), ref
            else
                printf "Each cell: median [min, max] over the runs.\n\n"
            hdr = "| benchmark | metric | unit |"
            sep = "|---|---|---|"
            for (i = 1; i <= na; i++) { hdr = hdr " " A[i] " |"; sep = sep "---:|" }
            nratio = 0
            if (ref != "") {
                for (i = 1; i <= na; i++) {
                    if (A[i] == ref) continue
                    nratio++
                    RC[nratio] = A[i]
                    hdr = hdr " " ref "/" A[i] " |"
                    sep = sep "---:|"
                    lsum[nratio] = 0
                    lcnt[nratio] = 0
                }
            }
            print hdr
            print sep
            for (r = 1; r <= nrows; r++) {
                key = rowkey[r]
                if (group_of(unit[key], better[key]) != g || better[key] != dir) continue
                line = "| " rowbench[r] " | " rowmetric[r] " | " unit[key] " |"
                for (i = 1; i <= na; i++) {
                    k2 = key SUBSEP A[i]
                    if (k2 in med)
                        line = line " " fmt(med[k2]) " [" fmt(mn[k2]) ", " fmt(mx[k2]) "] |"
                    else
                        line = line " FAIL |"
                }
                for (c = 1; c <= nratio; c++) {
                    kr = key SUBSEP ref
                    kp = key SUBSEP RC[c]
                    if ((kr in med) && (kp in med) && med[kp] > 0) {
                        ratio = med[kr] / med[kp]
                        line = line " " fmtratio(ratio) " |"
                        if (ratio > 0) { lsum[c] += log(ratio); lcnt[c]++ }
                    } else {
                        line = line " - |"
                    }
                }
                print line
            }
            if (nratio > 0) {
                line = "| **geomean** | | |"
                for (i = 1; i <= na; i++) line = line " |"
                for (c = 1; c <= nratio; c++)
                    line = line " **" (lcnt[c] ? fmtratio(exp(lsum[c] / lcnt[c])) : "-") "** |"
                print line
            }
        }
    }

    # Chart data: log2(relative speed/efficiency vs base), higher is better.
    if (chart != "" && base != "") {
        line = "metric"
        for (i = 1; i <= na; i++) line = line "\t" A[i]
        print line > chart
        for (r = 1; r <= nrows; r++) {
            key = rowkey[r]
            kb = key SUBSEP base
            if (!(kb in med) || med[kb] <= 0) continue
            line = rowbench[r] ":" rowmetric[r]
            for (i = 1; i <= na; i++) {
                k2 = key SUBSEP A[i]
                if ((k2 in med) && med[k2] > 0) {
                    s = (better[key] == "higher") ? med[k2] / med[kb] : med[kb] / med[k2]
                    line = line "\t" sprintf("%.4f", log(s) / log(2))
                } else {
                    line = line "\tNaN"
                }
            }
            print line > chart
        }
    }
}
