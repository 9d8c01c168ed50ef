/* inquiry_load.c: the load generator of ops/bench/inquiry. One operator's terminal sends
 * inquiries by resident code at a fixed rate for a number of seconds and measures each round
 * trip as DESIGN.md defines it: from just before the request is appended to the moment its
 * answer, read from the log, is decrypted. Prints key=value lines; asserts nothing.
 *
 * Two threads, one per half of the terminal (terminal.h): a sender that appends each request
 * when it is due, and a reader that takes each answer as it comes and opens it. Hundreds of
 * requests a second stand for many operators' terminals: in one thread, an answer that arrived
 * while the next request was being signed and made durable waited for that, and a request that
 * fell due while an answer was being opened waited for that, which no terminal of its own does.
 *
 * usage: jukilog-bench-inquiry OPERATOR PURPOSE CODES_FILE RATE SECONDS
 * Besides the round trips it prints cpu_us_per_answer=, the CPU time (user + system, all its
 * threads) the terminal spent from the first request to the last answer, per answer opened,
 * and how long the sender's hand-overs took (the spool's fsync and the hand-over to Kafka, about
 * 0.3 ms; every 1,024 events also the producer's settle, a few ms): send_max_ms=, the longest,
 * and sends_over_10ms=, how many took longer than 10 ms, which only a stalled disk or a starved
 * thread makes them.
 * JK_BENCH_TRACE=FILE also writes one line per answered request: the wall-clock ms at which it
 * was sent, its request appended, its record appended, and its answer decrypted. The lines are
 * kept in memory and written after the last answer, so that the reader, whose every step is
 * measured, does not also write a file to the disk the spools are fsynced on. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "jukilog/config.h"
#include "jukilog/strmap.h"
#include "jukilog/terminal.h"
#include "jukilog/util.h"

#include "latency.h"

struct load {
    jk_terminal_t *t;
    const char *op, *purpose;
    char (*codes)[12];
    size_t ncodes;
    int rate;
    size_t total;
    /* Written by the sender before the request is in pending, read by the reader after. */
    long long *t0;
    int64_t *sent_wall;
    pthread_mutex_t mu;
    jk_strmap_t *pending; /* request id -> &t0[i], under mu */
    size_t sent;          /* under mu */
    int sender_failed;    /* under mu */
    jk_err_t send_err;
    /* The sender's hand-overs (spool fsync and all), read after it is joined. */
    long long send_max_us;
    size_t sends_over_10ms;
};

/* User + system CPU time of a getrusage reading, in microseconds. */
static long long cpu_us(const struct rusage *ru)
{
    return (long long)(ru->ru_utime.tv_sec + ru->ru_stime.tv_sec) * 1000000LL +
           ru->ru_utime.tv_usec + ru->ru_stime.tv_usec;
}

static int sender_failed(struct load *l)
{
    pthread_mutex_lock(&l->mu);
    int failed = l->sender_failed;
    pthread_mutex_unlock(&l->mu);
    return failed;
}

/* Appends the requests as they fall due (request i at start + i / rate) and hands them over
 * without waiting for the broker's acknowledgement. */
static void *send_requests(void *arg)
{
    struct load *l = arg;
    long long start = now_us();
    size_t sent = 0;
    while (sent < l->total) {
        sleep_until_due(start, sent, l->rate);
        /* Every request due by now (more than one when the thread fell behind). */
        size_t due = (size_t)((now_us() - start) * l->rate / 1000000) + 1;
        if (due > l->total) due = l->total;
        for (; sent < due; sent++) {
            json_t *data =
                json_pack("{s:s, s:s, s:{s:s}, s:i}", "operator", l->op, "purpose", l->purpose,
                          "query", "resident_code", l->codes[sent % l->ncodes], "limit", 1);
            char id[33];
            l->t0[sent] = now_us();
            l->sent_wall[sent] = jk_now_ms();
            if (jk_terminal_append(l->t, "request.inquiry", data, id, &l->send_err)) goto fail;
            pthread_mutex_lock(&l->mu);
            jk_strmap_put(l->pending, id, &l->t0[sent]);
            l->sent = sent + 1;
            pthread_mutex_unlock(&l->mu);
        }
        long long t = now_us();
        if (jk_terminal_send(l->t, &l->send_err)) goto fail;
        t = now_us() - t;
        if (t > l->send_max_us) l->send_max_us = t;
        if (t > 10000) l->sends_over_10ms++;
    }
    return NULL;
fail:
    pthread_mutex_lock(&l->mu);
    l->sender_failed = 1;
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: %s OPERATOR PURPOSE CODES_FILE RATE SECONDS\n", argv[0]);
        return 2;
    }
    struct load l = {.op = argv[1], .purpose = argv[2], .mu = PTHREAD_MUTEX_INITIALIZER};
    l.rate = atoi(argv[4]);
    int seconds = atoi(argv[5]);
    FILE *f = fopen(argv[3], "r");
    if (!f || l.rate < 1 || seconds < 1) {
        fprintf(stderr, "%s: bad arguments\n", argv[0]);
        return 2;
    }
    size_t cap = 1024;
    l.codes = malloc(cap * sizeof *l.codes);
    char line[64];
    while (l.codes && fgets(line, sizeof line, f)) {
        if (strlen(line) < 11) continue;
        if (l.ncodes == cap) l.codes = realloc(l.codes, (cap *= 2) * sizeof *l.codes);
        memcpy(l.codes[l.ncodes], line, 11);
        l.codes[l.ncodes++][11] = '\0';
    }
    fclose(f);
    jk_config_t cfg;
    jk_err_t err;
    if (!l.codes || l.ncodes == 0 || jk_terminal_config(&cfg, &err)) {
        fprintf(stderr, "%s: no codes, or %s\n", argv[0], err.msg);
        return 2;
    }
    l.t = jk_terminal_open(&cfg, l.op, 0, &err);
    if (!l.t) {
        fprintf(stderr, "%s: %s\n", argv[0], err.msg);
        return 2;
    }
    l.total = (size_t)l.rate * (size_t)seconds;
    size_t done = 0, refused = 0, ntraced = 0;
    long long *lat = calloc(l.total, sizeof *lat);
    l.t0 = calloc(l.total, sizeof *l.t0);
    /* The round trip in two legs, split at the provider record's broker time (wall clock, ms):
     * request sent -> record appended, and record appended -> answer decrypted. */
    long long *leg1 = calloc(l.total, sizeof *leg1), *leg2 = calloc(l.total, sizeof *leg2);
    l.sent_wall = calloc(l.total, sizeof *l.sent_wall);
    l.pending = jk_strmap_new();
    if (!lat || !l.t0 || !leg1 || !leg2 || !l.sent_wall || !l.pending) {
        fprintf(stderr, "%s: out of memory\n", argv[0]);
        return 2;
    }
    const char *trace_path = getenv("JK_BENCH_TRACE");
    if (trace_path && trace_path[0] == '\0') trace_path = NULL;
    FILE *trace = trace_path ? fopen(trace_path, "w") : NULL;
    long long(*traced)[4] = trace ? calloc(l.total, sizeof *traced) : NULL;
    if (trace_path && (!trace || !traced)) {
        fprintf(stderr, "%s: cannot write %s\n", argv[0], trace_path);
        return 2;
    }
    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    pthread_t sender;
    if (pthread_create(&sender, NULL, send_requests, &l) != 0) {
        fprintf(stderr, "%s: cannot start the sending thread\n", argv[0]);
        return 2;
    }
    int64_t stop_at = jk_now_ms() + (int64_t)seconds * 1000 + 15000;
    while (done + refused < l.total && jk_now_ms() < stop_at && !sender_failed(&l)) {
        jk_answer_t a = {0};
        int got = jk_terminal_next(l.t, 100, &a, &err);
        if (got < 0) {
            fprintf(stderr, "%s: %s\n", argv[0], err.msg);
            return 2;
        }
        if (got == 0) continue;
        pthread_mutex_lock(&l.mu);
        long long *sent_at = jk_strmap_del(l.pending, a.request_id);
        pthread_mutex_unlock(&l.mu);
        if (sent_at) {
            if (strncmp(a.type, "provision.", 10) == 0) {
                json_t *ans = jk_terminal_open_answer(l.t, &a, &err);
                if (ans) {
                    size_t i = (size_t)(sent_at - l.t0);
                    leg1[done] = a.broker_ms - l.sent_wall[i];
                    leg2[done] = jk_now_ms() - a.broker_ms;
                    lat[done++] = now_us() - *sent_at;
                    int64_t req_ms = 0;
                    const char *rt = json_string_value(json_object_get(a.data, "request_time"));
                    if (traced && rt && jk_time_parse(rt, &req_ms) == 0) {
                        long long *row = traced[ntraced++];
                        row[0] = l.sent_wall[i];
                        row[1] = req_ms;
                        row[2] = a.broker_ms;
                        row[3] = jk_now_ms();
                    }
                } else {
                    refused++;
                }
                json_decref(ans);
            } else {
                refused++;
            }
        }
        json_decref(a.data);
    }
    pthread_join(sender, NULL);
    if (l.sender_failed) {
        fprintf(stderr, "%s: %s\n", argv[0], l.send_err.msg);
        return 2;
    }
    getrusage(RUSAGE_SELF, &ru1);
    qsort(lat, done, sizeof *lat, cmp_ll);
    qsort(leg1, done, sizeof *leg1, cmp_ll);
    qsort(leg2, done, sizeof *leg2, cmp_ll);
    double p50 = done ? lat[done / 2] / 1000.0 : -1,
           p90 = done ? lat[done * 90 / 100] / 1000.0 : -1,
           p99 = done ? lat[done * 99 / 100] / 1000.0 : -1,
           max = done ? lat[done - 1] / 1000.0 : -1;
    size_t within20 = 0;
    while (within20 < done && lat[within20] <= 20000)
        within20++;
    printf("rate=%d seconds=%d sent=%zu answered=%zu refused_or_unopened=%zu lost=%zu "
           "p50_ms=%.1f p90_ms=%.1f p99_ms=%.1f max_ms=%.1f within_20ms_pct=%.1f "
           "to_record_p50_ms=%lld to_record_p99_ms=%lld to_answer_p50_ms=%lld "
           "to_answer_p99_ms=%lld cpu_us_per_answer=%.0f send_max_ms=%.1f sends_over_10ms=%zu\n",
           l.rate, seconds, l.sent, done, refused, jk_strmap_count(l.pending), p50, p90, p99, max,
           done ? 100.0 * (double)within20 / (double)done : 0.0, done ? leg1[done / 2] : -1,
           done ? leg1[done * 99 / 100] : -1, done ? leg2[done / 2] : -1,
           done ? leg2[done * 99 / 100] : -1,
           done ? (double)(cpu_us(&ru1) - cpu_us(&ru0)) / (double)done : -1.0,
           l.send_max_us / 1000.0, l.sends_over_10ms);
    int rc = 0;
    if (trace) {
        for (size_t i = 0; i < ntraced; i++)
            fprintf(trace, "%lld %lld %lld %lld\n", traced[i][0], traced[i][1], traced[i][2],
                    traced[i][3]);
        if (fclose(trace) != 0) {
            fprintf(stderr, "%s: cannot write %s\n", argv[0], trace_path);
            rc = 2;
        }
        free(traced);
    }
    jk_strmap_free(l.pending);
    free(lat);
    free(l.t0);
    free(leg1);
    free(leg2);
    free(l.sent_wall);
    free(l.codes);
    jk_terminal_close(l.t);
    jk_config_free(&cfg);
    return rc;
}
