/* Two-level slab bitmap against a bool-array model. Random sequences are
 * replayable: the seed is printed and XALLOC_TEST_SEED sets it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "bitmap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static uint64_t rng_state;
static unsigned seed;

static uint64_t rng(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int setup(void **state)
{
    const char *env = getenv("XALLOC_TEST_SEED");
    seed = env ? (unsigned)strtoul(env, NULL, 0)
               : (unsigned)time(NULL) ^ ((unsigned)getpid() << 16);
    printf("bitmap seed %u (XALLOC_TEST_SEED=%u reproduces)\n", seed, seed);
    fflush(stdout);
    return 0;
}

/* Room for the largest bitmap, plus a guard word after it. */
static uint64_t storage[1 + XA_BITMAP_WORDS(XA_BITMAP_MAX_BITS) + 1];
#define GUARD 0xdeadbeefcafef00dull

static xa_bitmap *fresh(unsigned nbits)
{
    memset(storage, 0x5c, sizeof storage);   /* init must not rely on zeroed memory */
    storage[1 + XA_BITMAP_WORDS(nbits)] = GUARD;
    xa_bitmap *b = (xa_bitmap *)storage;
    assert_int_equal(xa_bitmap_size(nbits), (1 + XA_BITMAP_WORDS(nbits)) * sizeof(uint64_t));
    xa_bitmap_init_full(b, nbits);
    return b;
}

/* Full consistency check of b against model[0 .. nbits). */
static void check(const xa_bitmap *b, const bool *model, unsigned nbits)
{
    unsigned nw = XA_BITMAP_WORDS(nbits);
    for (unsigned i = 0; i < nbits; i++)
        if (xa_bitmap_is_free(b, i) != model[i])
            fail_msg("nbits %u bit %u: bitmap %d model %d (seed %u)",
                     nbits, i, xa_bitmap_is_free(b, i), model[i], seed);
    /* Bits past nbits never read as free: take_first could return them. */
    if (nbits % 64)
        assert_int_equal(b->words[nw - 1] >> (nbits % 64), 0);
    for (unsigned w = 0; w < 64; w++) {
        bool s = (b->summary >> w) & 1;
        bool expect = w < nw && b->words[w] != 0;
        if (s != expect)
            fail_msg("nbits %u summary bit %u = %d, word %s (seed %u)", nbits, w, s,
                     w < nw ? (b->words[w] ? "non-empty" : "empty") : "beyond", seed);
    }
    assert_int_equal(storage[1 + nw], GUARD);
}

static int lowest_free(const bool *model, unsigned nbits)
{
    for (unsigned i = 0; i < nbits; i++)
        if (model[i])
            return (int)i;
    return -1;
}

static void run_model(unsigned nbits)
{
    static bool model[XA_BITMAP_MAX_BITS];
    xa_bitmap *b = fresh(nbits);
    unsigned nfree = nbits;
    for (unsigned i = 0; i < nbits; i++)
        model[i] = true;
    check(b, model, nbits);

    /* Phases bias towards taking or freeing, so each run passes through
     * full, empty and half-full states. */
    unsigned steps = nbits < 64 ? 2000 : 6 * nbits;
    for (unsigned step = 0; step < steps; step++) {
        unsigned phase = (step * 4 / steps) % 2;   /* 0: mostly take, 1: mostly free */
        bool take = nfree && (nfree == nbits || (rng() % 100) < (phase == 0 ? 80u : 20u));
        if (take) {
            int want = lowest_free(model, nbits);
            assert_true(xa_bitmap_any(b));
            unsigned got = xa_bitmap_take_first(b);
            if ((int)got != want)
                fail_msg("nbits %u step %u: take_first %u, lowest free %d (seed %u)",
                         nbits, step, got, want, seed);
            model[got] = false;
            nfree--;
        } else {
            /* Free a random taken bit. */
            unsigned i = (unsigned)(rng() % nbits);
            while (model[i])
                i = (i + 1) % nbits;
            xa_bitmap_set_free(b, i);
            model[i] = true;
            nfree++;
        }
        assert_int_equal(xa_bitmap_any(b), nfree != 0);
        if (nbits <= 128 || step % 64 == 0)
            check(b, model, nbits);
    }
    check(b, model, nbits);

    /* Drain: every remaining free bit comes out in ascending order. */
    int prev = -1;
    while (nfree) {
        unsigned got = xa_bitmap_take_first(b);
        assert_true((int)got > prev);
        assert_true(model[got]);
        model[got] = false;
        prev = (int)got;
        nfree--;
    }
    assert_false(xa_bitmap_any(b));
    assert_int_equal(b->summary, 0);
    check(b, model, nbits);
}

static void test_init_full(void **state)
{
    static const unsigned sizes[] = { 1, 2, 63, 64, 65, 127, 128, 511, 2048, 4095, 4096 };
    static bool model[XA_BITMAP_MAX_BITS];
    for (unsigned k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        unsigned nbits = sizes[k];
        xa_bitmap *b = fresh(nbits);
        for (unsigned i = 0; i < nbits; i++)
            model[i] = true;
        check(b, model, nbits);
        assert_true(xa_bitmap_any(b));
        /* Take everything: 0, 1, 2, ... then empty. */
        for (unsigned i = 0; i < nbits; i++)
            assert_int_equal(xa_bitmap_take_first(b), i);
        assert_false(xa_bitmap_any(b));
        /* Freeing the last bit alone makes it the only candidate. */
        xa_bitmap_set_free(b, nbits - 1);
        assert_true(xa_bitmap_any(b));
        assert_int_equal(xa_bitmap_take_first(b), nbits - 1);
        assert_false(xa_bitmap_any(b));
    }
}

static void test_random_1(void **state)    { run_model(1); }
static void test_random_63(void **state)   { run_model(63); }
static void test_random_64(void **state)   { run_model(64); }
static void test_random_65(void **state)   { run_model(65); }
static void test_random_511(void **state)  { run_model(511); }
static void test_random_2048(void **state) { run_model(2048); }
static void test_random_4096(void **state) { run_model(4096); }

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_full),
        cmocka_unit_test(test_random_1),
        cmocka_unit_test(test_random_63),
        cmocka_unit_test(test_random_64),
        cmocka_unit_test(test_random_65),
        cmocka_unit_test(test_random_511),
        cmocka_unit_test(test_random_2048),
        cmocka_unit_test(test_random_4096),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
