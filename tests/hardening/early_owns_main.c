/* Run under LD_PRELOAD=libxalloc.so, linked against early_owns_lib, whose
 * constructor calls xalloc_owns() on foreign pointers before xalloc has been
 * used (xalloc_owns is documented safe on any pointer). */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "preload_check.h"

extern int owns_probe_ran, owns_probe_errors;

static void test_owns_before_first_allocation(void **state) {
    assert_int_equal(owns_probe_ran, 1);
    assert_int_equal(owns_probe_errors, 0);
}

int main(void) {
    require_preloaded("early_owns");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_owns_before_first_allocation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
