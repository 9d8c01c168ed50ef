/* replay.c: `jukilog replay`, the identity file as it stood at a broker time, rebuilt straight
 * from the log without the database. It reads the identity topic in the consumer's one order and
 * applies each change with the same checks and the same state machine as the projector
 * (projections/identity_event.c, projections/identity.c), so the two cannot disagree. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "jukilog/cli.h"
#include "jukilog/consumer.h"
#include "jukilog/identity_event.h"
#include "jukilog/strmap.h"
#include "jukilog/util.h"

struct replay {
    jk_strmap_t *persons; /* resident code -> jk_person_t* */
    long long events, applied, superseded, rejected, duplicates, bad_signature;
};

static void collect(void *ctx, const char *key, void *value)
{
    (void)key;
    jk_person_t ***out = ctx;
    *(*out)++ = value;
}

static int by_code(const void *a, const void *b)
{
    const jk_person_t *const *pa = a, *const *pb = b;
    return strcmp((*pa)->resident_code, (*pb)->resident_code);
}

static void free_person(void *ctx, const char *key, void *value)
{
    (void)ctx;
    (void)key;
    jk_person_free(value);
    free(value);
}

static int apply(struct replay *rp, const jk_record_t *r, const char *prefecture)
{
    rp->events++;
    if (r->status == JK_REC_INVALID || r->status == JK_REC_BAD_SIGNATURE) {
        rp->rejected++;
        if (r->status == JK_REC_BAD_SIGNATURE) rp->bad_signature++;
        return 0;
    }
    jk_change_t ch;
    jk_problem_t pb;
    if (jk_identity_check_event(r->ev, prefecture, &ch, &pb)) {
        rp->rejected++;
        return 0;
    }
    jk_person_t *cur = jk_strmap_get(rp->persons, ch.resident_code);
    jk_person_t *target =
        ch.new_resident_code[0] ? jk_strmap_get(rp->persons, ch.new_resident_code) : NULL;
    jk_apply_in_t in = {&ch, r->ev->source + 3, cur, target, r->ev->id, r->log_ms};
    jk_apply_out_t out;
    memset(&out, 0, sizeof out);
    int rc = jk_identity_apply(&in, &out);
    if (rc == 0 && out.outcome == JK_APPLIED) {
        rp->applied++;
        jk_person_t *next = malloc(sizeof *next);
        if (!next) {
            rc = -1;
        } else {
            *next = out.next;
            memset(&out.next, 0, sizeof out.next);
            /* The new state replaces cur (a renamed person leaves the old code behind; the new
             * code was free, or the change would have been refused). */
            if (cur) {
                if (out.renamed) jk_strmap_del(rp->persons, cur->resident_code);
                jk_person_free(cur);
                free(cur);
            }
            rc = jk_strmap_put(rp->persons, next->resident_code, next);
        }
    } else if (rc == 0) {
        if (out.outcome == JK_SUPERSEDED)
            rp->superseded++;
        else
            rp->rejected++;
    }
    jk_person_free(&out.next);
    jk_change_free(&ch);
    return rc;
}

static void report_chain(void *ctx, const jk_chain_summary_t *s)
{
    long long *faults = ctx;
    if (s->waiting) {
        fprintf(stderr,
                "replay: %s: gap after seq %lld (seqs %lld..%lld missing, %lld events waiting)\n",
                s->source, (long long)s->linked, (long long)s->linked + 1,
                (long long)s->first_waiting - 1, (long long)s->waiting);
        (*faults)++;
    }
    if (s->forks) {
        fprintf(stderr, "replay: %s: %lld forked events\n", s->source, (long long)s->forks);
        (*faults)++;
    }
}

/* --verify: the consumer verifies chain heads only, which gives exactly the records of one that
 * verifies everything (bad signatures refused in their place); each batch's accepted events then
 * have their own signatures checked on every core, and none may fail. Returns how many fail, each
 * named on stderr, or -1 when out of memory. */
static long long check_batch(const jk_keyreg_t *keys, const jk_batch_t *b, int threads)
{
    if (b->n == 0) return 0;
    unsigned char *bad = calloc(b->n, 1);
    if (bad == NULL) return -1;
    jk_batch_check_signatures(keys, b, threads, bad);
    long long failed = 0;
    for (size_t i = 0; i < b->n; i++) {
        if (!bad[i]) continue;
        const jk_record_t *r = &b->recs[i];
        fprintf(stderr,
                "replay: %s seq %lld (%s [%d] offset %lld): accepted by its chain, but its "
                "own signature does not verify\n",
                r->ev->source, (long long)r->ev->seq, r->topic, r->partition, (long long)r->offset);
        failed++;
    }
    free(bad);
    return failed;
}

static const char cmd_replay_help[] =
    "usage: jukilog replay [--as-of TIME] [--out FILE] [--verify] [-X key=value]...\n"
    "\n"
    "Rebuilds the identity file as it stood at broker time TIME (RFC 3339; default:\n"
    "now) straight from the log, without the database, and prints it as JSON Lines,\n"
    "one per person ever known, sorted by resident_code: resident_code, my_number,\n"
    "name, name_kana, birth_date, sex, address, municipality_code, status (resident |\n"
    "removed), reason, effective_date, version (accepted changes so far).\n"
    "Each source's hash chain is followed and the signature of its last event in each\n"
    "batch checked against the key the source had at the time, which authenticates the\n"
    "events chained before it (a batch with anything else is read again, checking every\n"
    "signature). --verify also checks every event's own signature, on every core, and\n"
    "reports gaps and forks in the chains and bad signatures on stderr (exit 1 when there\n"
    "are any).\n";

int cmd_replay(int argc, char **argv)
{
    static const struct option opts[] = {
        {"as-of", required_argument, NULL, 'a'},
        {"out", required_argument, NULL, 'o'},
        {"verify", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = "replay", *outpath = NULL;
    int64_t asof = INT64_MAX;
    int verify = 0, c, rc = JK_EXIT_ERROR;
    jk_config_t cfg;
    jk_err_t err;
    if (jk_config_load(&cfg, &err)) return jk_cli_fail(cmd, &err);
    struct replay rp;
    memset(&rp, 0, sizeof rp);
    jk_consumer_t *cons = NULL;
    jk_batch_t b = {0};
    FILE *out = stdout;
    optind = 1;
    while ((c = getopt_long(argc, argv, "X:a:o:vh", opts, NULL)) != -1) {
        if (c == 'a') {
            if (jk_time_parse(optarg, &asof)) {
                rc = jk_cli_usage(cmd, "--as-of \"%s\" is not an RFC 3339 time", optarg);
                goto out;
            }
        } else if (c == 'o') {
            outpath = optarg;
        } else if (c == 'v') {
            verify = 1;
        } else if ((rc = jk_cli_option(c, argv, cmd, &cfg, cmd_replay_help)) != JK_CLI_NEXT) {
            goto out;
        }
    }
    if ((rc = jk_cli_no_operands(cmd, argc, argv)) != JK_CLI_NEXT) goto out;
    static const char *const identity[] = {"identity"};
    /* librdkafka (before 2.1) stops fetching a partition for a whole second once its queue
     * holds queued.max.messages.kbytes; the consumer's 4 MB (journal/consumer.c) is less than a
     * second of a replay's reading, which then waited a third of its time for the fetcher.
     * 16 MB a partition holds more than a second at 20,000 events/s a partition. */
    if (jk_config_kafka_default(&cfg, "queued.max.messages.kbytes", "16384", &err)) goto fail;
    rp.persons = jk_strmap_new();
    cons = rp.persons ? jk_consumer_open_topics(&cfg, identity, 1, &err) : NULL;
    if (!cons) goto fail;
    /* Each source's chain and its heads authenticate the rest; --verify checks every event
     * again on every core (check_batch). */
    jk_consumer_verify_heads(cons, 1);
    int threads = jk_cores();
    long long unverified = 0;

    int64_t started = jk_now_ms(), last_report = started;
    int done = 0;
    while (!done && !jk_consumer_caught_up(cons)) {
        if (jk_consumer_poll(cons, &b, 5000, 500, &err)) goto fail;
        rp.duplicates += (long long)b.duplicates;
        if (verify) {
            long long failed = check_batch(jk_consumer_keys(cons), &b, threads);
            if (failed < 0) {
                jk_err_set(&err, "out of memory");
                goto fail;
            }
            unverified += failed;
        }
        for (size_t i = 0; i < b.n; i++) {
            /* The log clock never goes back: the first event after TIME ends the replay. */
            if (b.recs[i].log_ms > asof) {
                done = 1;
                break;
            }
            if (apply(&rp, &b.recs[i], cfg.prefecture)) {
                jk_err_set(&err, "out of memory");
                goto fail;
            }
        }
        int64_t now = jk_now_ms();
        if (now - last_report >= 5000) {
            fprintf(stderr, "replay: %lld events, %.0f/s\n", rp.events,
                    rp.events * 1000.0 / (double)(now - started));
            last_report = now;
        }
    }

    size_t n = jk_strmap_count(rp.persons);
    jk_person_t **all = malloc((n + 1) * sizeof *all), **fill = all;
    if (!all) {
        jk_err_set(&err, "out of memory");
        goto fail;
    }
    jk_strmap_foreach(rp.persons, collect, &fill);
    qsort(all, n, sizeof *all, by_code);
    if (outpath && !(out = fopen(outpath, "w"))) {
        free(all);
        jk_err_set(&err, "cannot write %s", outpath);
        goto fail;
    }
    int bad = 0;
    for (size_t i = 0; i < n && !bad; i++)
        bad = jk_person_print(out, all[i]);
    free(all);
    if (bad || fflush(out) != 0) {
        jk_err_set(&err, "cannot write %s", outpath ? outpath : "standard output");
        goto fail;
    }
    double secs = (double)(jk_now_ms() - started) / 1000.0;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    fprintf(stderr,
            "replay: %lld events, %zu persons, %lld applied, %lld superseded, %lld rejected, "
            "%lld duplicates dropped, %.3f s, %.0f events/s, max rss %ld kB\n",
            rp.events, n, rp.applied, rp.superseded, rp.rejected, rp.duplicates, secs,
            secs > 0 ? rp.events / secs : 0.0, ru.ru_maxrss);
    rc = JK_EXIT_OK;
    if (verify) {
        long long faults = rp.bad_signature + unverified;
        if (unverified)
            fprintf(stderr, "replay: %lld accepted events whose own signature does not verify\n",
                    unverified);
        if (rp.bad_signature)
            fprintf(stderr, "replay: %lld events with bad signatures\n", rp.bad_signature);
        jk_chain_foreach(jk_consumer_chain(cons), report_chain, &faults);
        if (faults)
            rc = JK_EXIT_REJECTED;
        else
            fprintf(stderr, "replay: every signature and every chain verified\n");
    }
    goto out;
fail:
    rc = jk_cli_fail(cmd, &err);
out:
    if (out != stdout) fclose(out);
    jk_batch_free(&b);
    jk_consumer_close(cons);
    if (rp.persons) {
        jk_strmap_foreach(rp.persons, free_person, NULL);
        jk_strmap_free(rp.persons);
    }
    jk_config_free(&cfg);
    return rc;
}
