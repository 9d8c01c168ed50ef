/* latency.h: what the latency benchmarks (inquiry_load.c, echo.c) share: a monotonic clock in
 * microseconds, the wait for the time a message falls due, and the comparison that sorts the
 * samples for their percentiles. */
#ifndef JK_BENCH_LATENCY_H
#define JK_BENCH_LATENCY_H

#include <errno.h>
#include <stddef.h>
#include <time.h>

static inline long long now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Sleeps until message i of a run at rate a second begun at start_us (now_us's clock) falls due. */
static inline void sleep_until_due(long long start_us, size_t i, int rate)
{
    long long due_us = start_us + (long long)(i * 1000000 / (size_t)rate);
    struct timespec ts = {(time_t)(due_us / 1000000), (long)(due_us % 1000000) * 1000};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

static inline int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

#endif
