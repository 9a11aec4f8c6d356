# SQL script for the sqlite3 LD_PRELOAD test: awk -v rows=N -f gen_sql.awk
# 100k single-row INSERTs in one transaction (parser and b-tree work),
# a second table from a recursive CTE, indexes, then aggregates, joins,
# window functions, large sorts, updates, deletes, VACUUM and an integrity
# check. Every query has a total ORDER BY, so the output is deterministic.
function rnd(m) { x = (x * 16807) % 2147483647; return x % m }
BEGIN {
    x = 4242
    print "PRAGMA threads=2;"
    print "PRAGMA cache_size=-65536;"
    print "CREATE TABLE item(id INTEGER PRIMARY KEY, grp INTEGER, name TEXT, price REAL, qty INTEGER, note TEXT);"
    print "BEGIN;"
    for (i = 1; i <= rows; i++) {
        note = ""
        k = rnd(12)
        for (j = 0; j < k; j++) note = note sprintf("%c", 97 + rnd(26))
        printf "INSERT INTO item VALUES(%d,%d,'name%05d','%d.%02d',%d,'%s%s');\n", \
            i, rnd(500), rnd(40000), rnd(1000), rnd(100), rnd(50), note, (rnd(10) == 0 ? sprintf(" %0500d", i) : "")
    }
    print "COMMIT;"
    print "CREATE TABLE grp(id INTEGER PRIMARY KEY, label TEXT, weight INTEGER);"
    print "WITH RECURSIVE s(n) AS (SELECT 0 UNION ALL SELECT n+1 FROM s WHERE n < 499)"
    print "  INSERT INTO grp SELECT n, 'group-' || hex(n * 7919), (n * 37) % 101 FROM s;"
    print "CREATE INDEX item_grp ON item(grp, price);"
    print "CREATE INDEX item_name ON item(name);"
    print "SELECT count(*), sum(qty), round(sum(price), 2), count(DISTINCT name), max(length(note)) FROM item;"
    print "SELECT grp, count(*), sum(qty), round(avg(price), 4), min(name), max(name) FROM item GROUP BY grp ORDER BY grp LIMIT 40;"
    print "SELECT g.label, count(*), sum(i.qty * g.weight) FROM item i JOIN grp g ON g.id = i.grp WHERE g.weight > 50 GROUP BY g.label ORDER BY 3 DESC, 1 LIMIT 25;"
    print "SELECT name, count(*) AS c FROM item GROUP BY name HAVING c > 6 ORDER BY c DESC, name LIMIT 30;"
    print "SELECT id, grp, sum(qty) OVER (PARTITION BY grp ORDER BY id), rank() OVER (PARTITION BY grp ORDER BY price DESC, id) FROM item WHERE grp < 3 ORDER BY grp, id LIMIT 60;"
    print "SELECT substr(group_concat(name, ','), 1, 200) FROM (SELECT name FROM item WHERE qty = 7 ORDER BY name, id);"
    print "SELECT id, note FROM item ORDER BY note DESC, id LIMIT 5 OFFSET 50000;"
    print "UPDATE item SET note = note || ' updated ' || id, price = price * 1.5 WHERE qty % 3 = 0;"
    print "DELETE FROM item WHERE grp % 7 = 0;"
    print "SELECT count(*), round(sum(price), 2), sum(length(note)) FROM item;"
    print "VACUUM;"
    print "PRAGMA integrity_check;"
    print "SELECT grp, count(*), round(sum(price), 2) FROM item GROUP BY grp ORDER BY 3 DESC, grp LIMIT 10;"
}
