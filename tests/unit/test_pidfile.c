/* Unit tests: the xl devd pidfile lock, with two real processes. */
#include "test_helpers.h"
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "xl_devd_pidfile.h"

static char dir[64], path[128];

static int setup(void **s)
{
    snprintf(dir, sizeof(dir), "/tmp/xldevd-pidtest.XXXXXX");
    if (!mkdtemp(dir)) return -1;
    snprintf(path, sizeof(path), "%s/xldevd.pid", dir);
    return 0;
}

static int teardown(void **s)
{
    unlink(path);
    rmdir(dir);
    return 0;
}

static void test_acquire_write_release(void **s)
{
    xl_pidfile pf;
    pid_t holder = -1;
    xl_pidfile_init(&pf);
    assert_int_equal(xl_pidfile_acquire(&pf, path, &holder), 0);
    assert_int_equal(xl_pidfile_write(&pf, 4242), 0);
    assert_int_equal(xl_pidfile_read(path), 4242);
    assert_int_equal(xl_pidfile_write(&pf, 7), 0);   /* shorter: truncated */
    assert_int_equal(xl_pidfile_read(path), 7);
    xl_pidfile_release(&pf);
    assert_int_equal(access(path, F_OK), -1);        /* removed */
    xl_pidfile_release(&pf);                         /* idempotent */
}

/* Forks a child that takes the lock, says 'L' on ready_w, then waits for
 * a byte on go_r (and releases cleanly) or, if go_r < 0, sleeps forever. */
static pid_t spawn_holder(int ready_w, int go_r)
{
    pid_t child = fork();
    if (child == 0) {
        xl_pidfile pf;
        pid_t h;
        char c;
        xl_pidfile_init(&pf);
        if (xl_pidfile_acquire(&pf, path, &h) || xl_pidfile_write(&pf, getpid()))
            _exit(1);
        if (write(ready_w, "L", 1) != 1) _exit(2);
        if (go_r < 0) {
            pause();
            _exit(0);
        }
        if (read(go_r, &c, 1) != 1) _exit(3);
        xl_pidfile_release(&pf);
        _exit(0);
    }
    return child;
}

static void test_second_process_is_refused(void **s)
{
    int to_child[2], to_parent[2];
    char c;
    assert_int_equal(pipe(to_child), 0);
    assert_int_equal(pipe(to_parent), 0);
    pid_t child = spawn_holder(to_parent[1], to_child[0]);
    assert_true(child > 0);
    assert_int_equal(read(to_parent[0], &c, 1), 1);

    xl_pidfile pf;
    pid_t holder = 0;
    xl_pidfile_init(&pf);
    assert_int_equal(xl_pidfile_acquire(&pf, path, &holder), XL_PIDFILE_BUSY);
    assert_int_equal(holder, child);
    assert_int_equal(pf.fd, -1);

    /* the holder exits cleanly: the file is gone and we get it */
    assert_int_equal(write(to_child[1], "Q", 1), 1);
    int st;
    assert_int_equal(waitpid(child, &st, 0), child);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_int_equal(xl_pidfile_acquire(&pf, path, &holder), 0);
    xl_pidfile_release(&pf);
}

static void test_killed_holder_leaves_stale_file(void **s)
{
    int to_parent[2];
    char c;
    assert_int_equal(pipe(to_parent), 0);
    pid_t child = spawn_holder(to_parent[1], -1);
    assert_true(child > 0);
    assert_int_equal(read(to_parent[0], &c, 1), 1);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    /* kill -9 left the file with a dead pid, but no lock: taken over */
    assert_int_equal(xl_pidfile_read(path), child);
    xl_pidfile pf;
    pid_t holder = 0;
    xl_pidfile_init(&pf);
    assert_int_equal(xl_pidfile_acquire(&pf, path, &holder), 0);
    assert_int_equal(xl_pidfile_write(&pf, getpid()), 0);
    assert_int_equal(xl_pidfile_read(path), getpid());
    xl_pidfile_release(&pf);
}

static void test_junk_content(void **s)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("12abc\n", f);
    fclose(f);
    assert_int_equal(xl_pidfile_read(path), 0);
    f = fopen(path, "w");
    fputs("99999999999999999999\n", f);
    fclose(f);
    assert_int_equal(xl_pidfile_read(path), 0);
    f = fopen(path, "w");
    fputs("-5\n", f);
    fclose(f);
    assert_int_equal(xl_pidfile_read(path), 0);
    unlink(path);
    assert_int_equal(xl_pidfile_read(path), 0);
}

static void test_unwritable_dir(void **s)
{
    xl_pidfile pf;
    pid_t holder;
    xl_pidfile_init(&pf);
    int rc = xl_pidfile_acquire(&pf, "/nonexistent-dir-xldevd/x.pid", &holder);
    assert_true(rc < 0);
    assert_int_equal(rc, -ENOENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_acquire_write_release, setup, teardown),
        cmocka_unit_test_setup_teardown(test_second_process_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_killed_holder_leaves_stale_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_junk_content, setup, teardown),
        cmocka_unit_test(test_unwritable_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
