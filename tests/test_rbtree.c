#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "rbtree.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct item {
    uint32_t key;
    uint32_t seq; /* insertion order, to check duplicate ordering */
    bool in_tree;
    xa_rb_node node;
} item;

#define ITEM(n) xa_rb_entry(n, item, node)

static int cmp_item(const xa_rb_node *a, const xa_rb_node *b)
{
    uint32_t x = ITEM(a)->key, y = ITEM(b)->key;
    return (x > y) - (x < y);
}

/* --- seeded PRNG (splitmix64), replayable via XALLOC_TEST_SEED --- */

static uint64_t rng_state;

static uint64_t rng(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static unsigned seed_rng(void)
{
    const char *env = getenv("XALLOC_TEST_SEED");
    unsigned seed = env ? (unsigned)strtoul(env, NULL, 0)
                        : (unsigned)time(NULL) ^ ((unsigned)getpid() << 16);
    printf("rbtree seed %u\n", seed);
    fflush(stdout);
    rng_state = seed;
    return seed;
}

/* --- reference model: sorted array of keys --- */

typedef struct model {
    uint32_t *keys;
    size_t n;
} model;

/* Index of the first key >= k. */
static size_t model_lb(const model *m, uint32_t k)
{
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->keys[mid] < k)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void model_insert(model *m, uint32_t k)
{
    size_t i = model_lb(m, k);
    memmove(&m->keys[i + 1], &m->keys[i], (m->n - i) * sizeof(*m->keys));
    m->keys[i] = k;
    m->n++;
}

static void model_remove(model *m, uint32_t k)
{
    size_t i = model_lb(m, k);
    assert_true(i < m->n && m->keys[i] == k);
    memmove(&m->keys[i], &m->keys[i + 1], (m->n - i - 1) * sizeof(*m->keys));
    m->n--;
}

static void probe(const xa_rb_tree *t, const model *m, uint32_t k)
{
    item key = { .key = k };
    size_t i = model_lb(m, k);
    xa_rb_node *lb = xa_rb_lower_bound(t, &key.node);
    xa_rb_node *f = xa_rb_find(t, &key.node);

    if (i == m->n) {
        assert_null(lb);
    } else {
        assert_non_null(lb);
        assert_int_equal(ITEM(lb)->key, m->keys[i]);
    }
    if (i < m->n && m->keys[i] == k) {
        assert_non_null(f);
        assert_int_equal(ITEM(f)->key, k);
        assert_true(ITEM(f)->in_tree);
    } else {
        assert_null(f);
    }
}

static void compare_with_model(const xa_rb_tree *t, const model *m)
{
    xa_rb_node *n;
    size_t i;

    assert_true(xa_rb_check(t) >= 0);
    assert_int_equal(xa_rb_empty(t), m->n == 0);

    for (i = 0, n = xa_rb_first(t); n; n = xa_rb_next(n), i++) {
        assert_true(i < m->n);
        assert_int_equal(ITEM(n)->key, m->keys[i]);
        assert_true(ITEM(n)->in_tree);
    }
    assert_int_equal(i, m->n);

    for (i = m->n, n = xa_rb_last(t); n; n = xa_rb_prev(n)) {
        assert_true(i > 0);
        assert_int_equal(ITEM(n)->key, m->keys[--i]);
    }
    assert_int_equal(i, 0);

    /* Present keys, their neighbours, the extremes and random absent keys. */
    for (i = 0; i < m->n; i++) {
        probe(t, m, m->keys[i]);
        probe(t, m, m->keys[i] - 1);
        probe(t, m, m->keys[i] + 1);
    }
    probe(t, m, 0);
    probe(t, m, UINT32_MAX);
    if (m->n) {
        probe(t, m, m->keys[0] - 1);          /* below min */
        probe(t, m, m->keys[m->n - 1] + 1);   /* above max */
    }
    for (i = 0; i < 64; i++)
        probe(t, m, (uint32_t)rng());
}

/* Random insert/remove against the model. Keys are a bijection (odd
 * multiplier mod 2^31) of the item index, so they are distinct but scattered
 * over the whole 32-bit range; even keys only, so key+1 is always absent. */
static void random_run(unsigned nitems, unsigned ops, unsigned batch)
{
    item *items = calloc(nitems, sizeof(*items));
    model m = { calloc(nitems, sizeof(uint32_t)), 0 };
    xa_rb_tree t;
    uint32_t salt = (uint32_t)rng();

    assert_non_null(items);
    assert_non_null(m.keys);
    for (unsigned i = 0; i < nitems; i++)
        items[i].key = (((i ^ salt) * 2654435761u) & 0x7fffffffu) << 1;
    xa_rb_init(&t, cmp_item);

    for (unsigned op = 0; op < ops; op++) {
        /* Alternate growth and shrink phases so the tree both fills up
         * and drains down to empty. */
        unsigned phase = (op / (ops / 8)) & 1;
        unsigned want_insert = phase ? 25 : 75;
        item *it = &items[rng() % nitems];

        if (!it->in_tree && (rng() % 100 < want_insert || m.n == 0)) {
            xa_rb_insert(&t, &it->node);
            it->in_tree = true;
            model_insert(&m, it->key);
        } else if (it->in_tree && rng() % 100 >= want_insert) {
            xa_rb_remove(&t, &it->node);
            it->in_tree = false;
            model_remove(&m, it->key);
        }
        if (op % batch == batch - 1)
            compare_with_model(&t, &m);
    }
    compare_with_model(&t, &m);

    /* Drain in random order. */
    while (m.n) {
        item *it = &items[rng() % nitems];
        if (!it->in_tree)
            continue;
        xa_rb_remove(&t, &it->node);
        it->in_tree = false;
        model_remove(&m, it->key);
        if (m.n % 512 == 0)
            compare_with_model(&t, &m);
    }
    assert_true(xa_rb_empty(&t));
    assert_int_equal(xa_rb_check(&t), 0);
    free(m.keys);
    free(items);
}

static void test_random_small(void **state)
{
    (void)state;
    /* Small key space: constant hits on existing keys, frequent empty tree. */
    random_run(64, 50000, 97);
}

static void test_random_large(void **state)
{
    (void)state;
    random_run(4096, 200000, 2000);
}

static void test_empty(void **state)
{
    xa_rb_tree t;
    item probe_item = { .key = 5 };

    (void)state;
    xa_rb_init(&t, cmp_item);
    assert_true(xa_rb_empty(&t));
    assert_null(xa_rb_first(&t));
    assert_null(xa_rb_last(&t));
    assert_null(xa_rb_find(&t, &probe_item.node));
    assert_null(xa_rb_lower_bound(&t, &probe_item.node));
    assert_int_equal(xa_rb_check(&t), 0);
}

static void test_single(void **state)
{
    xa_rb_tree t;
    item a = { .key = 10 }, lo = { .key = 9 }, hi = { .key = 11 };

    (void)state;
    xa_rb_init(&t, cmp_item);
    xa_rb_insert(&t, &a.node);
    assert_false(xa_rb_empty(&t));
    assert_int_equal(xa_rb_check(&t), 1);
    assert_ptr_equal(xa_rb_first(&t), &a.node);
    assert_ptr_equal(xa_rb_last(&t), &a.node);
    assert_null(xa_rb_next(&a.node));
    assert_null(xa_rb_prev(&a.node));
    assert_ptr_equal(xa_rb_find(&t, &a.node), &a.node);
    assert_null(xa_rb_find(&t, &lo.node));
    assert_ptr_equal(xa_rb_lower_bound(&t, &lo.node), &a.node);
    assert_null(xa_rb_lower_bound(&t, &hi.node));

    xa_rb_remove(&t, &a.node);
    assert_true(xa_rb_empty(&t));
    assert_int_equal(xa_rb_check(&t), 0);

    /* A removed node can be reinserted as is. */
    xa_rb_insert(&t, &a.node);
    assert_int_equal(xa_rb_check(&t), 1);
    assert_ptr_equal(xa_rb_first(&t), &a.node);
}

static void test_remove_root_repeatedly(void **state)
{
    enum { N = 3000 };
    item *items = calloc(N, sizeof(*items));
    xa_rb_tree t;
    unsigned left = N;

    (void)state;
    assert_non_null(items);
    xa_rb_init(&t, cmp_item);
    for (unsigned i = 0; i < N; i++) {
        items[i].key = (uint32_t)(i * 7919u % N); /* 7919 is prime: a permutation */
        xa_rb_insert(&t, &items[i].node);
    }
    assert_true(xa_rb_check(&t) > 0);

    while (!xa_rb_empty(&t)) {
        xa_rb_node *r = t.root;
        uint32_t k = ITEM(r)->key;
        xa_rb_node *p = xa_rb_prev(r), *nx = xa_rb_next(r);

        xa_rb_remove(&t, r);
        left--;
        assert_true(xa_rb_check(&t) >= 0);
        /* The neighbours of the removed root are now adjacent. */
        if (p)
            assert_ptr_equal(xa_rb_next(p), nx);
        if (nx)
            assert_ptr_equal(xa_rb_prev(nx), p);
        item key = { .key = k };
        assert_null(xa_rb_find(&t, &key.node));
    }
    assert_int_equal(left, 0);
    free(items);
}

/* Height of the deepest node, via parent links. */
static int tree_height(const xa_rb_tree *t)
{
    int h = 0;
    for (xa_rb_node *n = xa_rb_first(t); n; n = xa_rb_next(n)) {
        int d = 0;
        if (n->left || n->right)
            continue; /* the deepest node is a leaf */
        for (const xa_rb_node *p = n; p; p = (xa_rb_node *)(p->parent_color & ~(uintptr_t)1))
            d++;
        if (d > h)
            h = d;
    }
    return h;
}

static void sequential(bool ascending)
{
    enum { N = 100000 };
    item *items = calloc(N, sizeof(*items));
    xa_rb_tree t;
    int bh, h;
    unsigned i;
    xa_rb_node *n;

    assert_non_null(items);
    xa_rb_init(&t, cmp_item);
    for (i = 0; i < N; i++) {
        items[i].key = ascending ? i : N - 1 - i;
        xa_rb_insert(&t, &items[i].node);
        if (i % 10007 == 0)
            assert_true(xa_rb_check(&t) >= 0);
    }
    bh = xa_rb_check(&t);
    assert_true(bh > 0);
    /* n >= 2^bh - 1 and height <= 2 * log2(n + 1) in any red-black tree. */
    assert_true((1ull << bh) <= N + 1ull);
    h = tree_height(&t);
    assert_true(h < 64 && (1ull << h) <= (N + 1ull) * (N + 1ull));
    assert_true(h >= bh);

    for (i = 0, n = xa_rb_first(&t); n; n = xa_rb_next(n), i++)
        assert_int_equal(ITEM(n)->key, i);
    assert_int_equal(i, N);

    /* Drain from the same end it was built from, then the other half from
     * the opposite end, checking along the way. */
    for (i = 0; i < N / 2; i++) {
        n = ascending ? xa_rb_first(&t) : xa_rb_last(&t);
        xa_rb_remove(&t, n);
        if (i % 10007 == 0)
            assert_true(xa_rb_check(&t) >= 0);
    }
    assert_true(xa_rb_check(&t) >= 0);
    while (!xa_rb_empty(&t)) {
        n = ascending ? xa_rb_last(&t) : xa_rb_first(&t);
        xa_rb_remove(&t, n);
    }
    assert_int_equal(xa_rb_check(&t), 0);
    free(items);
}

static void test_ascending(void **state)
{
    (void)state;
    sequential(true);
}

static void test_descending(void **state)
{
    (void)state;
    sequential(false);
}

static void check_dup_order(const xa_rb_tree *t)
{
    const item *prev = NULL;
    for (xa_rb_node *n = xa_rb_first(t); n; n = xa_rb_next(n)) {
        const item *it = ITEM(n);
        if (prev) {
            assert_true(prev->key <= it->key);
            if (prev->key == it->key)
                assert_true(prev->seq < it->seq);
        }
        prev = it;
    }
}

static void test_duplicates(void **state)
{
    enum { N = 5000, KEYS = 10 };
    item *items = calloc(N, sizeof(*items));
    xa_rb_tree t;
    uint32_t seq = 0;

    (void)state;
    assert_non_null(items);
    xa_rb_init(&t, cmp_item);
    for (unsigned i = 0; i < N; i++) {
        items[i].key = (uint32_t)(rng() % KEYS);
        items[i].seq = seq++;
        items[i].in_tree = true;
        xa_rb_insert(&t, &items[i].node);
    }
    assert_true(xa_rb_check(&t) > 0);
    check_dup_order(&t);

    /* find and lower_bound return the earliest-inserted equal node. */
    for (uint32_t k = 0; k < KEYS; k++) {
        item key = { .key = k };
        const item *first = NULL;
        for (unsigned i = 0; i < N; i++)
            if (items[i].key == k && (!first || items[i].seq < first->seq))
                first = &items[i];
        if (first) {
            assert_ptr_equal(xa_rb_find(&t, &key.node), &first->node);
            assert_ptr_equal(xa_rb_lower_bound(&t, &key.node), &first->node);
        }
    }

    /* Churn: removals and fresh insertions (which must go after all
     * equal keys already present) keep the order. */
    for (unsigned round = 0; round < 20000; round++) {
        item *it = &items[rng() % N];
        if (it->in_tree) {
            xa_rb_remove(&t, &it->node);
            it->in_tree = false;
        } else {
            it->seq = seq++;
            it->in_tree = true;
            xa_rb_insert(&t, &it->node);
        }
        if (round % 1000 == 999) {
            assert_true(xa_rb_check(&t) >= 0);
            check_dup_order(&t);
        }
    }
    check_dup_order(&t);
    free(items);
}

/* xa_rb_check must actually catch broken trees. */
static void test_check_detects_corruption(void **state)
{
    enum { N = 64 };
    item items[N];
    xa_rb_tree t;
    xa_rb_node *r, *l;
    uintptr_t saved;

    (void)state;
    memset(items, 0, sizeof(items));
    xa_rb_init(&t, cmp_item);
    for (unsigned i = 0; i < N; i++) {
        items[i].key = i;
        xa_rb_insert(&t, &items[i].node);
    }
    assert_true(xa_rb_check(&t) > 0);
    r = t.root;
    l = r->left;

    /* Red root. */
    r->parent_color |= 1;
    assert_int_equal(xa_rb_check(&t), -1);
    r->parent_color &= ~(uintptr_t)1;

    /* Wrong parent link. */
    saved = l->parent_color;
    l->parent_color = (uintptr_t)r->right | (saved & 1);
    assert_int_equal(xa_rb_check(&t), -1);
    l->parent_color = saved;

    /* Flipping one colour breaks either the red or the black rule. */
    saved = l->parent_color;
    l->parent_color ^= 1;
    assert_int_equal(xa_rb_check(&t), -1);
    l->parent_color = saved;

    /* Out of order keys. */
    items[0].key = 1000;
    assert_int_equal(xa_rb_check(&t), -1);
    items[0].key = 0;

    assert_true(xa_rb_check(&t) > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_single),
        cmocka_unit_test(test_remove_root_repeatedly),
        cmocka_unit_test(test_ascending),
        cmocka_unit_test(test_descending),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_check_detects_corruption),
        cmocka_unit_test(test_random_small),
        cmocka_unit_test(test_random_large),
    };

    seed_rng();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
