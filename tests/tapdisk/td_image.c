/*
 * td-image: drives tapdisk's image layer (td_disk.c and the formats) and
 * its I/O engine directly, with no ring and no Xen, so that what tapdisk
 * writes can be read by qemu-img and what qemu-img writes by tapdisk.
 *
 *   td-image info IMG                    sectors and features
 *   td-image read IMG OUT SEED           the whole disk into OUT, in
 *                                        requests of random sizes
 *   td-image read-at IMG SECTOR COUNT OUT  those sectors into OUT
 *   td-image script SEED SECTORS N       N random operations, printed
 *   td-image apply IMG < SCRIPT          runs them:
 *       w SECTOR COUNT SEED   write COUNT sectors of SEED's pattern
 *       d SECTOR COUNT        discard
 *       f                     flush
 *       o                     close and open again
 *   td-image crash IMG LOG SEED          writes and flushes until killed,
 *                                        logging what completed to LOG
 *   td-image verify [--answered] RAW LOG RAW (the image, read by another
 *                                        reader) holds every write LOG
 *                                        says was flushed (answered)
 *
 * IMG is tapdisk's "<format>:<path>".  Exit status 0, or 1 with a line.
 *
 * SPDX-License-Identifier: GPL-2.0-only
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "td_disk.h"
#include "td_engine.h"

#define MAX_SECTORS (TD_MAX_INDIRECT_SEGS * TD_SECTORS_PER_PAGE)
#define INFLIGHT 8

bool td_gmem_persistent(void)
{
    return false;
}

void td_log(const char *fmt, ...)
{
    va_list ap;

    if (!getenv("TD_IMAGE_VERBOSE"))
        return;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void die(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fprintf(stderr, "td-image: ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static uint64_t rng;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Sector s of write seed's data: it names both, so that a reader can
 * tell which write a sector holds. */
static void pattern(uint8_t *p, uint32_t seed, uint64_t s)
{
    uint64_t w[TD_SECTOR / 8];
    unsigned int i;

    for (i = 0; i < TD_SECTOR / 8; i++)
        w[i] = ((uint64_t)seed << 32 | (uint32_t)s) ^
               (i * 0x9E3779B97F4A7C15ull);
    memcpy(p, w, TD_SECTOR);
}

/*----- one disk, its requests -----*/

static td_disk *disk;
static char image[TD_PATH_LEN];
static td_io ios[INFLIGHT];
static uint8_t *bufs[INFLIGHT];
static unsigned int busy;

static void on_done(td_io *io)
{
    if (td_disk_done(io)) {
        if (!td_disk_map(io))
            io->status = TD_RSP_ERROR;
        else {
            td_engine_start(io);
            return;
        }
    }
    io->pending = -1;           /* done */
    busy--;
    disk->r.inflight--;
}

static void open_image(void)
{
    td_params p = { .flags = 0 };
    char why[256];
    uint32_t minor;
    int err;

    snprintf(p.path, sizeof(p.path), "%s", image);
    err = td_disk_open(&p, &minor, why, sizeof(why));
    if (err)
        die("open %s: %s", image, why);
    disk = td_disk_get(minor);
}

static void wait_all(void)
{
    while (busy)
        if (td_engine_wait())
            die("engine wait failed");
}

static td_io *free_io(unsigned int *slot)
{
    unsigned int i;

    for (;;) {
        for (i = 0; i < INFLIGHT; i++)
            if (ios[i].pending == -1) {
                *slot = i;
                return &ios[i];
            }
        if (td_engine_wait())
            die("engine wait failed");
    }
}

/* Starts a request: op 'r', 'w', 'd' or 'f' over [sector, +count). */
static td_io *submit(char op, uint64_t sector, uint32_t count,
                     uint32_t seed)
{
    unsigned int slot, k;
    td_io *io = free_io(&slot);

    memset(io, 0, offsetof(td_io, iov));
    io->d = disk;
    io->sector = sector;
    io->nr_sectors = count;
    io->to_guest = op == 'r';
    io->flush = op == 'f';
    io->discard = op == 'd';
    if (op == 'r' || op == 'w') {
        io->iov[0] = (struct iovec){ bufs[slot], (size_t)count * TD_SECTOR };
        io->niov = io->nsegs = 1;
        io->want = (size_t)count * TD_SECTOR;
    }
    if (op == 'w')
        for (k = 0; k < count; k++)
            pattern(bufs[slot] + (size_t)k * TD_SECTOR, seed, sector + k);
    if (op == 'f')
        io->nr_sectors = 0;
    busy++;
    disk->r.inflight++;
    if (!td_disk_map(io)) {
        io->status = TD_RSP_ERROR;
        on_done(io);
    } else {
        td_engine_start(io);
    }
    td_engine_submit();
    return io;
}

static void run(char op, uint64_t sector, uint32_t count, uint32_t seed)
{
    td_io *io = submit(op, sector, count, seed);

    wait_all();
    if (io->status != TD_RSP_OKAY)
        die("%c %" PRIu64 " %u failed", op, sector, count);
}

static void setup(const char *img)
{
    unsigned int i;

    snprintf(image, sizeof(image), "%s", img);
    td_engine_init(on_done);
    for (i = 0; i < INFLIGHT; i++) {
        ios[i].pending = -1;
        if (!(bufs[i] = aligned_alloc(4096, MAX_SECTORS * TD_SECTOR)))
            die("out of memory");
    }
    open_image();
}

/*----- commands -----*/

static bool all_zero(const uint8_t *p, size_t len)
{
    return !p[0] && !memcmp(p, p + 1, len - 1);
}

static int cmd_read(const char *out, uint32_t seed)
{
    int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    uint64_t s = 0;
    td_io *io;

    rng = seed | 1;
    if (fd < 0)
        die("%s: %s", out, strerror(errno));
    while (s < disk->sectors) {
        uint32_t n = (uint32_t)(rnd() % MAX_SECTORS) + 1;
        if (n > disk->sectors - s)
            n = (uint32_t)(disk->sectors - s);
        io = submit('r', s, n, 0);
        wait_all();
        if (io->status != TD_RSP_OKAY)
            die("read at %" PRIu64 " failed", s);
        /* Zeros stay holes: a sparse disk makes a sparse file. */
        if (!all_zero(io->iov[0].iov_base, (size_t)n * TD_SECTOR) &&
            pwrite(fd, io->iov[0].iov_base, (size_t)n * TD_SECTOR,
                   (off_t)(s * TD_SECTOR)) != (ssize_t)n * TD_SECTOR)
            die("%s: %s", out, strerror(errno));
        s += n;
    }
    if (ftruncate(fd, (off_t)(disk->sectors * TD_SECTOR)))
        die("%s: %s", out, strerror(errno));
    close(fd);
    return 0;
}

static int cmd_read_at(uint64_t s, uint32_t count, const char *out)
{
    FILE *f = fopen(out, "w");
    td_io *io;

    if (!f || !count || count > MAX_SECTORS)
        die("read-at: %s", f ? "1 to 2048 sectors" : strerror(errno));
    io = submit('r', s, count, 0);
    wait_all();
    if (io->status != TD_RSP_OKAY)
        die("read at %" PRIu64 " failed", s);
    if (fwrite(io->iov[0].iov_base, TD_SECTOR, count, f) != count ||
        fclose(f))
        die("%s: %s", out, strerror(errno));
    return 0;
}

/* Random operations over a disk of sectors: writes of 1 sector to 1 MiB
 * anywhere, discards (whole blocks or not), flushes, reopens. */
static int cmd_script(uint32_t seed, uint64_t sectors, unsigned int n)
{
    unsigned int i;

    rng = seed | 1;
    for (i = 0; i < n; i++) {
        uint64_t r = rnd() % 100, s = rnd() % sectors;
        uint64_t c = r < 40 ? rnd() % 16 + 1 : rnd() % MAX_SECTORS + 1;

        if (r >= 83 && r < 90)      /* a long discard: whole blocks */
            c = rnd() % 16384 + 1;
        if (c > sectors - s)
            c = sectors - s;
        if (r < 75)
            printf("w %" PRIu64 " %" PRIu64 " %u\n", s, c, i + 1);
        else if (r < 90)
            printf("d %" PRIu64 " %" PRIu64 "\n", s, c);
        else if (r < 97)
            printf("f\n");
        else
            printf("o\n");
    }
    return 0;
}

static int cmd_apply(void)
{
    char line[128], op;
    uint64_t s, c;
    uint32_t seed;

    while (fgets(line, sizeof(line), stdin)) {
        seed = 0;
        s = c = 0;
        op = line[0];
        if (op == 'w' &&
            sscanf(line, "w %" SCNu64 " %" SCNu64 " %u", &s, &c, &seed) != 3)
            die("bad line: %s", line);
        if (op == 'd' && sscanf(line, "d %" SCNu64 " %" SCNu64, &s, &c) != 2)
            die("bad line: %s", line);
        if (op == 'o') {
            td_disk_close(disk);
            open_image();
            continue;
        }
        while (c > MAX_SECTORS && op == 'w') {
            run(op, s, MAX_SECTORS, seed);
            s += MAX_SECTORS;
            c -= MAX_SECTORS;
        }
        run(op, s, (uint32_t)c, seed);
    }
    td_disk_close(disk);
    return 0;
}


/*----- the crash test -----*/

static void logf_(int fd, const char *fmt, ...)
{
    char buf[128];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (write(fd, buf, (size_t)n) != n)
        die("log: %s", strerror(errno));
}

/*
 * Batches of writes in flight together (no two of a batch overlap), each
 * logged when issued (I id sector count) and when completed (W id), and
 * now and then a flush with nothing in flight (F, once completed), until
 * killed.  Write ids are run * 1000000 + n: unique over the runs.
 */
static int cmd_crash(const char *log, uint32_t run_no)
{
    int lfd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    uint64_t at[INFLIGHT], cnt[INFLIGHT];
    td_io *io[INFLIGHT];
    uint32_t id = run_no * 1000000u;
    unsigned int i, j, n;

    if (lfd < 0)
        die("%s: %s", log, strerror(errno));
    /* Writes land below a frontier that moves up 256 KiB a batch, from
     * a thirty-second more of the disk each run: blocks are allocated
     * all along a run (a kill may cut one short), among overwrites. */
    uint64_t base = disk->sectors / 32 * (run_no % 32), window;

    rng = ((uint64_t)run_no << 32 | (uint64_t)getpid()) | 1;
    logf_(lfd, "O\n");
    for (window = base + 2 * MAX_SECTORS;; window += 512) {
        if (window > disk->sectors)
            window = disk->sectors;
        n = (unsigned int)(rnd() % INFLIGHT) + 1;
        for (i = 0; i < n; i++) {
            do {
                cnt[i] = rnd() % 4 ? rnd() % 64 + 1 : rnd() % MAX_SECTORS + 1;
                at[i] = rnd() % (window - cnt[i]);
                for (j = 0; j < i; j++)
                    if (at[i] < at[j] + cnt[j] && at[j] < at[i] + cnt[i])
                        break;
            } while (j < i);
        }
        for (i = 0; i < n; i++) {
            logf_(lfd, "I %u %" PRIu64 " %" PRIu64 "\n", id + i, at[i],
                  cnt[i]);
            io[i] = submit('w', at[i], (uint32_t)cnt[i], id + i);
        }
        wait_all();
        for (i = 0; i < n; i++) {
            if (io[i]->status != TD_RSP_OKAY)
                die("write %u failed", id + i);
            logf_(lfd, "W %u\n", id + i);
        }
        id += n;
        if (rnd() % 8 == 0) {
            run('f', 0, 0, 0);
            logf_(lfd, "F\n");
        }
    }
    return 0;
}

typedef struct {
    uint32_t id;
    bool flushed, acked;
    uint64_t at, cnt;
} wr;

/* Reads LOG: the writes in issue order, each flushed if a flush
 * completed after it in the same run (one killed run's unflushed writes
 * may be lost, whatever later runs flushed). */
static wr *read_log(const char *log, size_t *n)
{
    FILE *f = fopen(log, "r");
    char line[128];
    wr *w = NULL;
    size_t cap = 0, run_start = 0, i;

    if (!f)
        die("%s: %s", log, strerror(errno));
    *n = 0;
    while (fgets(line, sizeof(line), f)) {
        wr x = { .flushed = false };
        uint32_t id;
        if (line[0] == 'O')
            run_start = *n;
        /* A batch's completions follow its issues. */
        if (sscanf(line, "W %u", &id) == 1)
            for (i = *n; i-- > run_start && *n - i <= INFLIGHT;)
                if (w[i].id == id)
                    w[i].acked = true;
        if (line[0] == 'F')
            for (i = run_start; i < *n; i++)
                w[i].flushed = true;
        if (sscanf(line, "I %u %" SCNu64 " %" SCNu64, &x.id, &x.at,
                   &x.cnt) != 3)
            continue;
        if (*n == cap && !(w = realloc(w, (cap = cap * 2 + 1024) *
                                           sizeof(*w))))
            die("out of memory");
        w[(*n)++] = x;
    }
    fclose(f);
    return w;
}

/* Whether write id, issued after the one at from, covers sector s. */
static bool later(const wr *w, size_t from, size_t n, uint32_t id,
                  uint64_t s)
{
    for (; from < n; from++)
        if (w[from].id == id && s >= w[from].at &&
            s < w[from].at + w[from].cnt)
            return true;
    return false;
}

/*
 * Each sector holds the last write that covers it and was flushed (or,
 * acked: answered), or a write issued after that one (it may or may not
 * have landed); zeros only if no such write covers it.
 */
static int cmd_verify(const char *raw, const char *log, bool acked)
{
    size_t n, i, bad = 0, flushed = 0;
    wr *w = read_log(log, &n);
    FILE *f = fopen(raw, "r");
    uint8_t got[TD_SECTOR], want[TD_SECTOR], zero[TD_SECTOR] = { 0 };
    uint32_t *base;             /* index + 1 in w of the write it needs */
    uint64_t sectors, s, k;

    if (!f || fseek(f, 0, SEEK_END))
        die("%s: %s", raw, strerror(errno));
    sectors = (uint64_t)ftell(f) / TD_SECTOR;
    rewind(f);
    if (!(base = calloc(sectors, sizeof(*base))))
        die("out of memory");
    for (i = 0; i < n; i++)
        if ((acked ? w[i].acked : w[i].flushed) && ++flushed)
            for (k = 0; k < w[i].cnt && w[i].at + k < sectors; k++)
                base[w[i].at + k] = (uint32_t)i + 1;
    for (s = 0; s < sectors; s++) {
        uint64_t w0;
        uint32_t holds;
        if (fread(got, TD_SECTOR, 1, f) != 1)
            die("%s: short", raw);
        if (base[s]) {
            pattern(want, w[base[s] - 1].id, s);
            if (!memcmp(got, want, TD_SECTOR))
                continue;
        } else if (!memcmp(got, zero, TD_SECTOR)) {
            continue;
        }
        memcpy(&w0, got, 8);
        holds = (uint32_t)(w0 >> 32);
        pattern(want, holds, s);
        if (!memcmp(got, want, TD_SECTOR) &&
            later(w, base[s], n, holds, s))
            continue;
        if (bad++ >= 5)
            continue;
        if (!memcmp(got, want, TD_SECTOR))
            snprintf((char *)want, sizeof(want), "write %u's data", holds);
        else
            snprintf((char *)want, sizeof(want), "%s",
                     memcmp(got, zero, TD_SECTOR) ? "no write's data"
                                                  : "zeros");
        fprintf(stderr, "sector %" PRIu64 ": holds %s, not the last %s"
                " write's (%u) or a later one's\n", s, (char *)want,
                acked ? "answered" : "flushed",
                base[s] ? w[base[s] - 1].id : 0);
    }
    fclose(f);
    printf("%" PRIu64 " sectors, %zu writes (%zu %s): %zu wrong\n",
           sectors, n, flushed, acked ? "answered" : "flushed", bad);
    free(base);
    free(w);
    return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc == 5 && !strcmp(argv[1], "script"))
        return cmd_script((uint32_t)strtoul(argv[2], NULL, 0),
                          strtoull(argv[3], NULL, 0),
                          (unsigned int)strtoul(argv[4], NULL, 0));
    if (argc == 4 && !strcmp(argv[1], "verify"))
        return cmd_verify(argv[2], argv[3], false);
    if (argc == 5 && !strcmp(argv[1], "verify") &&
        !strcmp(argv[2], "--answered"))
        return cmd_verify(argv[3], argv[4], true);
    if (argc < 3)
        die("usage: see the source");
    setup(argv[2]);
    if (!strcmp(argv[1], "info")) {
        printf("sectors %" PRIu64 " discard %d\n", disk->sectors,
               disk->discard);
        td_disk_close(disk);
        return 0;
    }
    if (argc == 5 && !strcmp(argv[1], "read"))
        return cmd_read(argv[3], (uint32_t)strtoul(argv[4], NULL, 0));
    if (argc == 6 && !strcmp(argv[1], "read-at"))
        return cmd_read_at(strtoull(argv[3], NULL, 0),
                           (uint32_t)strtoul(argv[4], NULL, 0), argv[5]);
    if (!strcmp(argv[1], "apply"))
        return cmd_apply();
    if (argc == 5 && !strcmp(argv[1], "crash"))
        return cmd_crash(argv[3], (uint32_t)strtoul(argv[4], NULL, 0));
    die("usage: see the source");
    return 1;
}
