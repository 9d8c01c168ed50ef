/* inquiry_load.c: the load generator of ops/bench/inquiry. One operator's terminal sends
 * inquiries by resident code at a fixed rate for a number of seconds and measures each round
 * trip as DESIGN.md defines it: from just before the request is appended to the moment its
 * answer, read from the log, is decrypted. Prints key=value lines; asserts nothing.
 *
 * usage: jukilog-bench-inquiry OPERATOR PURPOSE CODES_FILE RATE SECONDS
 * JK_BENCH_TRACE=FILE also writes one line per answered request: the wall-clock ms at which it
 * was sent, its request appended, its record appended, and its answer decrypted. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jukilog/config.h"
#include "jukilog/strmap.h"
#include "jukilog/terminal.h"
#include "jukilog/util.h"

#include "latency.h"

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: %s OPERATOR PURPOSE CODES_FILE RATE SECONDS\n", argv[0]);
        return 2;
    }
    const char *op = argv[1], *purpose = argv[2];
    int rate = atoi(argv[4]), seconds = atoi(argv[5]);
    FILE *f = fopen(argv[3], "r");
    if (!f || rate < 1 || seconds < 1) {
        fprintf(stderr, "%s: bad arguments\n", argv[0]);
        return 2;
    }
    size_t ncodes = 0, cap = 1024;
    char(*codes)[12] = malloc(cap * sizeof *codes);
    char line[64];
    while (codes && fgets(line, sizeof line, f)) {
        if (strlen(line) < 11) continue;
        if (ncodes == cap) codes = realloc(codes, (cap *= 2) * sizeof *codes);
        memcpy(codes[ncodes], line, 11);
        codes[ncodes++][11] = '\0';
    }
    fclose(f);
    jk_config_t cfg;
    jk_err_t err;
    if (!codes || ncodes == 0 || jk_terminal_config(&cfg, &err)) {
        fprintf(stderr, "%s: no codes, or %s\n", argv[0], err.msg);
        return 2;
    }
    jk_terminal_t *t = jk_terminal_open(&cfg, op, 0, &err);
    if (!t) {
        fprintf(stderr, "%s: %s\n", argv[0], err.msg);
        return 2;
    }
    size_t total = (size_t)rate * (size_t)seconds, sent = 0, done = 0, refused = 0;
    long long *lat = calloc(total, sizeof *lat);
    long long *t0 = calloc(total, sizeof *t0);
    /* The round trip in two legs, split at the provider record's broker time (wall clock, ms):
     * request sent -> record appended, and record appended -> answer decrypted. */
    long long *leg1 = calloc(total, sizeof *leg1), *leg2 = calloc(total, sizeof *leg2);
    int64_t *sent_wall = calloc(total, sizeof *sent_wall);
    jk_strmap_t *pending = jk_strmap_new();
    if (!lat || !t0 || !leg1 || !leg2 || !sent_wall || !pending) {
        fprintf(stderr, "%s: out of memory\n", argv[0]);
        return 2;
    }
    const char *trace_path = getenv("JK_BENCH_TRACE");
    if (trace_path && trace_path[0] == '\0') trace_path = NULL;
    FILE *trace = trace_path ? fopen(trace_path, "w") : NULL;
    if (trace_path && !trace) {
        fprintf(stderr, "%s: cannot write %s\n", argv[0], trace_path);
        return 2;
    }
    int64_t start = jk_now_ms();
    int64_t stop_at = start + (int64_t)seconds * 1000 + 15000;
    while (done + refused < total && jk_now_ms() < stop_at) {
        int64_t now = jk_now_ms();
        size_t due = (size_t)((now - start) * rate / 1000);
        if (due > total) due = total;
        if (sent < due) {
            for (; sent < due; sent++) {
                json_t *data =
                    json_pack("{s:s, s:s, s:{s:s}, s:i}", "operator", op, "purpose", purpose,
                              "query", "resident_code", codes[sent % ncodes], "limit", 1);
                char id[33];
                t0[sent] = now_us();
                sent_wall[sent] = jk_now_ms();
                if (jk_terminal_append(t, "request.inquiry", data, id, &err)) break;
                jk_strmap_put(pending, id, &t0[sent]);
            }
            /* Not waiting for the broker's acknowledgement: the answer cannot come before the
             * request is appended, and a terminal that waited could not read answers meanwhile. */
            if (jk_terminal_send(t, &err)) {
                fprintf(stderr, "%s: %s\n", argv[0], err.msg);
                return 2;
            }
        }
        jk_answer_t a = {0};
        int got = jk_terminal_next(t, 1, &a, &err);
        if (got < 0) {
            fprintf(stderr, "%s: %s\n", argv[0], err.msg);
            return 2;
        }
        if (got == 0) continue;
        long long *sent_at = jk_strmap_del(pending, a.request_id);
        if (sent_at) {
            if (strncmp(a.type, "provision.", 10) == 0) {
                json_t *ans = jk_terminal_open_answer(t, &a, &err);
                if (ans) {
                    size_t i = (size_t)(sent_at - t0);
                    leg1[done] = a.broker_ms - sent_wall[i];
                    leg2[done] = jk_now_ms() - a.broker_ms;
                    lat[done++] = now_us() - *sent_at;
                    int64_t req_ms = 0;
                    const char *rt = json_string_value(json_object_get(a.data, "request_time"));
                    if (trace && rt && jk_time_parse(rt, &req_ms) == 0)
                        fprintf(trace, "%lld %lld %lld %lld\n", (long long)sent_wall[i],
                                (long long)req_ms, (long long)a.broker_ms,
                                (long long)jk_now_ms());
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
           "to_answer_p99_ms=%lld\n",
           rate, seconds, sent, done, refused, jk_strmap_count(pending), p50, p90, p99, max,
           done ? 100.0 * (double)within20 / (double)done : 0.0, done ? leg1[done / 2] : -1,
           done ? leg1[done * 99 / 100] : -1, done ? leg2[done / 2] : -1,
           done ? leg2[done * 99 / 100] : -1);
    if (trace) fclose(trace);
    jk_strmap_free(pending);
    free(lat);
    free(t0);
    free(leg1);
    free(leg2);
    free(sent_wall);
    free(codes);
    jk_terminal_close(t);
    jk_config_free(&cfg);
    return 0;
}
