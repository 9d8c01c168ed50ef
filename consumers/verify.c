/* verify.c: `jukilog verify`, the auditor's check of the log itself: every event well formed and
 * signed by the key its source had registered at that broker time, and every source's chain
 * complete: no gap (an event lost), no fork (an event altered or replaced). Duplicates, a
 * producer's resent events, are counted and are no fault. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jukilog/cli.h"
#include "jukilog/consumer.h"
#include "jukilog/util.h"

static const char *const all_topics[] = {"admin",    "identity", "operations", "consistency",
                                         "national", "outcomes", "checkpoints"};

struct totals {
    long long events, invalid, bad_sig, forks, dups, gaps, sources;
};

static void print_source(void *ctx, const jk_chain_summary_t *s)
{
    struct totals *t = ctx;
    t->sources++;
    t->forks += s->forks;
    if (s->waiting) t->gaps++;
    printf("{\"source\":\"%s\",\"linked\":%lld,\"head\":\"%s\",\"waiting\":%lld", s->source,
           (long long)s->linked, s->head, (long long)s->waiting);
    if (s->waiting)
        printf(",\"gap\":[%lld,%lld]", (long long)s->linked + 1, (long long)s->first_waiting - 1);
    printf(",\"duplicates\":%lld,\"forks\":%lld}\n", (long long)s->duplicates, (long long)s->forks);
}

static const char cmd_verify_help[] =
    "usage: jukilog verify [--topic NAME]... [-X key=value]...\n"
    "\n"
    "Reads the tenant's topics (default: all) from the start to their current end and\n"
    "checks every event: well formed, signed by the key its source had registered at\n"
    "that broker time (the signatures checked on every core), and chained to its\n"
    "source's previous event. Prints one JSON line per faulty event and per source\n"
    "(linked, head, gap, duplicates, forks), then a summary line. Exit 0 when everything\n"
    "holds, 1 when anything does not.\n";

int cmd_verify(int argc, char **argv)
{
    static const struct option opts[] = {
        {"topic", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = "verify";
    const char *topics[16];
    int ntopics = 0, c, rc = JK_EXIT_ERROR;
    jk_config_t cfg;
    jk_err_t err;
    if (jk_config_load(&cfg, &err)) return jk_cli_fail(cmd, &err);
    optind = 1;
    while ((c = getopt_long(argc, argv, "X:t:h", opts, NULL)) != -1) {
        if (c == 't') {
            if (ntopics == 16) {
                rc = jk_cli_usage(cmd, "at most 16 topics");
                goto out;
            }
            topics[ntopics++] = optarg;
        } else if ((rc = jk_cli_option(c, argv, cmd, &cfg, cmd_verify_help)) != JK_CLI_NEXT) {
            goto out;
        }
    }
    if ((rc = jk_cli_no_operands(cmd, argc, argv)) != JK_CLI_NEXT) goto out;
    if (ntopics == 0)
        for (size_t i = 0; i < sizeof all_topics / sizeof all_topics[0]; i++)
            topics[ntopics++] = all_topics[i];

    jk_consumer_t *cons = jk_consumer_open_topics(&cfg, topics, (size_t)ntopics, &err);
    if (!cons) {
        rc = jk_cli_fail(cmd, &err);
        goto out;
    }
    /* Chain heads verified as the log is read (the records are those of a reader that verifies
     * everything), then every accepted event's own signature, on every core. */
    jk_consumer_verify_heads(cons, 1);
    int threads = jk_cores();
    unsigned char *bad = NULL;
    struct totals t = {0};
    jk_batch_t b = {0};
    rc = JK_EXIT_OK;
    while (!jk_consumer_caught_up(cons)) {
        if (jk_consumer_poll(cons, &b, 2000, 200, &err)) {
            rc = jk_cli_fail(cmd, &err);
            break;
        }
        t.dups += (long long)b.duplicates;
        free(bad);
        bad = b.n ? calloc(b.n, 1) : NULL;
        if (b.n && !bad) {
            jk_err_set(&err, "out of memory");
            rc = jk_cli_fail(cmd, &err);
            break;
        }
        if (b.n) jk_batch_check_signatures(jk_consumer_keys(cons), &b, threads, bad);
        for (size_t i = 0; i < b.n; i++) {
            const jk_record_t *r = &b.recs[i];
            t.events++;
            if (r->status == JK_REC_OK && !bad[i]) continue;
            int bad_sig = r->status == JK_REC_BAD_SIGNATURE || bad[i];
            if (r->status == JK_REC_INVALID) t.invalid++;
            if (bad_sig) t.bad_sig++;
            json_t *o = json_pack("{s:s, s:i, s:I, s:s, s:s}", "topic", r->topic, "partition",
                                  r->partition, "offset", (json_int_t)r->offset, "status",
                                  r->status == JK_REC_INVALID ? "invalid"
                                  : bad_sig                   ? "bad_signature"
                                                              : "fork",
                                  "error",
                                  bad[i] ? "accepted by its chain, but its own signature does not "
                                           "verify"
                                         : r->error);
            char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
            puts(s);
            free(s);
            json_decref(o);
        }
    }
    free(bad);
    jk_batch_free(&b);
    if (rc == JK_EXIT_OK) {
        jk_chain_foreach(jk_consumer_chain(cons), print_source, &t);
        printf("verified %lld events from %lld sources: %lld invalid, %lld bad signatures, %lld "
               "forks, %lld gaps, %lld duplicates dropped\n",
               t.events, t.sources, t.invalid, t.bad_sig, t.forks, t.gaps, t.dups);
        if (t.invalid || t.bad_sig || t.forks || t.gaps) rc = JK_EXIT_REJECTED;
    }
    jk_consumer_close(cons);
out:
    jk_config_free(&cfg);
    return rc;
}
