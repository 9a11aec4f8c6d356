# A template-heavy C++ translation unit for the g++ LD_PRELOAD test:
#   awk -v types=N -f gen_cxx.awk > big.cc
# Many distinct class types, each run through function and class templates
# over std::map, std::vector, std::string, std::sort and std::unordered_map,
# so cc1plus instantiates a lot. Output depends only on the generated code.
BEGIN {
    print "#include <algorithm>"
    print "#include <cstdio>"
    print "#include <map>"
    print "#include <memory>"
    print "#include <numeric>"
    print "#include <string>"
    print "#include <unordered_map>"
    print "#include <vector>"
    print "template <int N> struct Fib { static constexpr unsigned long v = Fib<N-1>::v + Fib<N-2>::v; };"
    print "template <> struct Fib<0> { static constexpr unsigned long v = 0; };"
    print "template <> struct Fib<1> { static constexpr unsigned long v = 1; };"
    print "template <class T> struct Store {"
    print "    std::map<std::string, std::vector<T>> byname;"
    print "    std::unordered_map<int, std::string> names;"
    print "    void add(const std::string &k, T v) { byname[k].push_back(v); names[(int)byname.size()] = k; }"
    print "    unsigned long digest() const {"
    print "        unsigned long h = 1469598103934665603ul;"
    print "        for (const auto &kv : byname) {"
    print "            for (char c : kv.first) h = (h ^ (unsigned char)c) * 1099511628211ul;"
    print "            std::vector<T> v = kv.second;"
    print "            std::sort(v.begin(), v.end());"
    print "            for (const T &t : v) h = (h ^ t.key()) * 1099511628211ul;"
    print "        }"
    print "        return h ^ names.size();"
    print "    }"
    print "};"
    print "template <class T> unsigned long run(int n) {"
    print "    Store<T> s;"
    print "    for (int i = 0; i < n; i++) s.add(\"k\" + std::to_string(i % T::mod), T(i));"
    print "    auto owned = std::make_unique<std::vector<std::string>>();"
    print "    for (const auto &kv : s.byname) owned->push_back(kv.first + \":\" + std::to_string(kv.second.size()));"
    print "    std::string joined = std::accumulate(owned->begin(), owned->end(), std::string());"
    print "    return s.digest() + joined.size() + Fib<T::fib>::v;"
    print "}"
    for (t = 0; t < types; t++) {
        printf "struct T%d {\n", t
        printf "    static constexpr int mod = %d; static constexpr int fib = %d;\n", 3 + t % 41, 10 + t % 60
        printf "    unsigned long v; std::string s;\n"
        printf "    explicit T%d(int i) : v((unsigned long)i * %du + %du), s(std::to_string(i %% %d)) {}\n", t, 2 * t + 1, t * 7, 5 + t % 9
        printf "    unsigned long key() const { return v ^ s.size() ^ %dul; }\n", t * 31
        printf "    bool operator<(const T%d &o) const { return s != o.s ? s < o.s : v < o.v; }\n", t
        print "};"
    }
    print "int main() {"
    print "    unsigned long total = 0;"
    for (t = 0; t < types; t++) {
        printf "    total = total * 31 + run<T%d>(%d);\n", t, 50 + (t * 37) % 200
        if (t % 20 == 19) printf "    std::printf(\"after %d: %%016lx\\n\", total);\n", t + 1
    }
    print "    std::printf(\"total %016lx\\n\", total);"
    print "    return 0;"
    print "}"
}
