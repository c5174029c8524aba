/* The listener core's unit tests: stands in for libxl's libxl_osdeps.h. */
#ifndef FAKE_LIBXL_OSDEPS_H
#define FAKE_LIBXL_OSDEPS_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#endif
