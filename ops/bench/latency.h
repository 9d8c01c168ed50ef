/* latency.h: what the latency benchmarks (inquiry_load.c, echo.c) share: a monotonic clock in
 * microseconds and the comparison that sorts the samples for their percentiles. */
#ifndef JK_BENCH_LATENCY_H
#define JK_BENCH_LATENCY_H

#include <time.h>

static inline long long now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static inline int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

#endif
