/* cmocka needs these before it. */
#ifndef TEST_HELPERS_H
#define TEST_HELPERS_H
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#endif
