/* The clock fault test's wall clock: LD_PRELOADed into the agent, it moves CLOCK_REALTIME
 * (and gettimeofday, time) by the number of seconds written in the file that
 * PULLINFRA_TEST_CLOCK_FILE names, read at every call, so the test can step the agent's
 * wall clock forward and back while it runs. Monotonic clocks are left alone, as a real
 * clock step (an NTP step, a restored VM, `date -s`) leaves them. Built by
 * tests/faults/test_clock.py; libfaketime's sleep fails under Python 3.11 when it leaves
 * the monotonic clock alone. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

static long long offset_ns(void) {
    const char *path = getenv("PULLINFRA_TEST_CLOCK_FILE");
    double seconds = 0;
    FILE *f = path ? fopen(path, "re") : NULL;
    if (f == NULL)
        return 0;
    if (fscanf(f, "%lf", &seconds) != 1)
        seconds = 0;
    fclose(f);
    return (long long)(seconds * 1e9);
}

static void shift(struct timespec *ts) {
    long long ns = ts->tv_sec * 1000000000LL + ts->tv_nsec + offset_ns();
    ts->tv_sec = ns / 1000000000LL;
    ts->tv_nsec = ns % 1000000000LL;
}

int clock_gettime(clockid_t id, struct timespec *ts) {
    static int (*real)(clockid_t, struct timespec *);
    if (real == NULL)
        real = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT, "clock_gettime");
    int rc = real(id, ts);
    if (rc == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE))
        shift(ts);
    return rc;
}

int gettimeofday(struct timeval *tv, void *tz) {
    struct timespec ts;
    (void)tz;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        return -1;
    tv->tv_sec = ts.tv_sec;
    tv->tv_usec = ts.tv_nsec / 1000;
    return 0;
}

time_t time(time_t *out) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (out != NULL)
        *out = ts.tv_sec;
    return ts.tv_sec;
}
