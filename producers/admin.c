/* admin.c: `jukilog admin init`, once per prefecture's tenant (DESIGN.md "Tenancy").
 *
 * Creates the prefecture's admin signing key, the tenant's topics with the journal's configs,
 * the tenant's PostgreSQL schema, and registers the admin key on the admin topic (the first
 * event there, self-signed: the trust anchor of every later key). Every step checks what is
 * already there, so running it twice changes nothing. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "jukilog/admin.h"
#include "jukilog/cli.h"
#include "jukilog/consumer.h"
#include "jukilog/kafka.h"
#include "jukilog/keyreg.h"
#include "jukilog/keys.h"
#include "jukilog/pg.h"
#include "jukilog/producer.h"

/* The tenant's topics (DESIGN.md "Topics"); the admin topic has one partition: total order. */
static const struct {
    const char *name;
    int single;
} topics[] = {
    {"admin", 1},    {"identity", 0}, {"operations", 0},  {"consistency", 0},
    {"national", 0}, {"outcomes", 0}, {"checkpoints", 0},
};

/* The prefecture's own programs that append events: each signs with a key of its own, so that
 * each has a chain of its own (two writers on one chain would fork it). */
static const char *const services[] = {"projector", "relay", "provider", "auditor", "consistency"};

/* Creates (if missing) and registers the key of each service. */
static int service_keys(const jk_config_t *cfg, jk_err_t *err)
{
    for (size_t i = 0; i < sizeof services / sizeof services[0]; i++) {
        char source[64], path[PATH_MAX], id[17];
        snprintf(source, sizeof source, "%s:%s", services[i], cfg->prefecture);
        if (jk_cli_key_path(cfg, source, path, sizeof path))
            return jk_err_set(err, "JUKILOG_HOME path too long");
        struct stat sb;
        int fresh = stat(path, &sb) != 0;
        EVP_PKEY *key = fresh ? jk_key_generate(err) : jk_key_load(path, err);
        int rc = (!key || (fresh && jk_key_save(key, path, err)) || jk_key_id(key, id, err))
                     ? -1
                     : jk_admin_register_key(cfg, source, key, err);
        EVP_PKEY_free(key);
        if (rc < 0) return -1;
        printf("service %s key %s: %s\n", source, id, rc ? "registered" : "registered now");
    }
    return 0;
}

static void init_usage(FILE *out)
{
    fprintf(out,
            "usage: jukilog admin init [--partitions N] [-X key=value]...\n"
            "\n"
            "Sets up the tenant named by JUKILOG_NAMESPACE and JUKILOG_PREFECTURE, once:\n"
            "  - the prefecture's admin key in $JUKILOG_HOME/keys/admin.pem (mode 0600)\n"
            "  - topics <ns>.<pref>.{admin,identity,operations,consistency,national,outcomes,\n"
            "    checkpoints} (LogAppendTime, no expiry; admin has 1 partition, the others N, "
            "default 3)\n"
            "  - the PostgreSQL schema <ns>_<pref>\n"
            "  - the admin key's registration, the first event on the admin topic\n"
            "  - keys for the prefecture's services (projector, relay, provider, auditor,\n"
            "    consistency), registered by the admin\n"
            "Running it again changes nothing.\n");
}

/* Loads the admin key, or creates it (and its public half, which consumers pin) on first run. */
static EVP_PKEY *admin_key(const jk_config_t *cfg, int *created, jk_err_t *err)
{
    char pem[PATH_MAX], pub[PATH_MAX];
    if (jk_config_path(cfg, pem, sizeof pem, "keys/admin.pem") ||
        jk_config_path(cfg, pub, sizeof pub, "keys/admin.pub")) {
        jk_err_set(err, "JUKILOG_HOME path too long");
        return NULL;
    }
    struct stat sb;
    *created = stat(pem, &sb) != 0;
    EVP_PKEY *key = *created ? jk_key_generate(err) : jk_key_load(pem, err);
    if (!key || (*created && jk_key_save(key, pem, err))) goto fail;
    if (stat(pub, &sb) != 0) {
        char *b64 = jk_key_public_b64(key, err);
        if (!b64) goto fail;
        FILE *f = fopen(pub, "w");
        int ok = f && fprintf(f, "%s\n", b64) > 0;
        if (f) ok = (fclose(f) == 0) && ok;
        free(b64);
        if (!ok || chmod(pub, 0600) != 0) {
            jk_err_set(err, "cannot write %s", pub);
            goto fail;
        }
    }
    return key;
fail:
    EVP_PKEY_free(key);
    return NULL;
}

static int create_topics(const jk_config_t *cfg, int partitions, jk_err_t *err)
{
    rd_kafka_t *rk = jk_kafka_client(cfg, RD_KAFKA_PRODUCER, NULL, err);
    if (!rk) return -1;
    int rc = 0;
    for (size_t i = 0; i < sizeof topics / sizeof topics[0] && rc == 0; i++) {
        char t[128];
        jk_config_topic(cfg, topics[i].name, t, sizeof t);
        int n = topics[i].single ? 1 : partitions;
        int made = jk_kafka_create_topic(rk, t, n, err);
        if (made < 0)
            rc = -1;
        else
            printf("topic %s: %s\n", t, made == 0 ? "created" : "exists");
    }
    rd_kafka_destroy(rk);
    return rc;
}

static int create_schema(const jk_config_t *cfg, jk_err_t *err)
{
    PGconn *db = jk_pg_connect(cfg, err);
    if (!db) return -1;
    char schema[64];
    jk_config_schema(cfg, schema, sizeof schema);
    int rc = jk_pg_script(db, jk_sql_journal, schema, err);
    if (rc == 0) printf("schema %s: ready\n", schema);
    PQfinish(db);
    return rc;
}

int jk_admin_register_key(const jk_config_t *cfg, const char *source, EVP_PKEY *key, jk_err_t *err)
{
    char id[17];
    if (jk_key_id(key, id, err)) return -1;
    jk_consumer_t *c = jk_consumer_open(cfg, err);
    if (!c) return -1;
    EVP_PKEY *now = jk_keyreg_lookup(jk_consumer_keys(c), source, JK_KEYREG_NOW);
    char now_id[17] = "";
    if (now) jk_key_id(now, now_id, err);
    jk_consumer_close(c);
    if (strcmp(now_id, id) == 0) return 1;

    char admin[32], topic[128];
    jk_config_admin_source(cfg, admin, sizeof admin);
    jk_config_topic(cfg, "admin", topic, sizeof topic);
    EVP_PKEY *signer = strcmp(source, admin) == 0 ? NULL : jk_cli_source_key(cfg, admin, err);
    if (strcmp(source, admin) != 0 && !signer) return -1;
    json_t *data = jk_keyreg_registered_data(source, key, err);
    jk_producer_t *p = data ? jk_producer_open(cfg, admin, signer ? signer : key, err) : NULL;
    int rc = -1;
    if (p && jk_producer_append(p, topic, NULL, "key.registered", source, data, NULL, err) == 0)
        rc = jk_producer_flush(p, err);
    else if (!p)
        json_decref(data);
    jk_producer_close(p);
    EVP_PKEY_free(signer);
    return rc;
}

static int admin_init(int argc, char **argv)
{
    static const struct option opts[] = {
        {"partitions", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    jk_config_t cfg;
    jk_err_t err;
    if (jk_config_load(&cfg, &err)) return jk_cli_fail("admin init", &err);
    int partitions = 3, c, rc = JK_EXIT_ERROR;
    optind = 1;
    while ((c = getopt_long(argc, argv, "X:p:h", opts, NULL)) != -1) {
        switch (c) {
        case 'p':
            partitions = atoi(optarg);
            if (partitions < 1 || partitions > 1000) {
                rc = jk_cli_usage("admin init", "--partitions must be 1..1000, not \"%s\"", optarg);
                goto out;
            }
            break;
        case 'X':
            if (jk_config_kafka_set(&cfg, optarg, &err)) {
                rc = jk_cli_fail("admin init", &err);
                goto out;
            }
            break;
        case 'h':
            init_usage(stdout);
            rc = JK_EXIT_OK;
            goto out;
        default:
            rc = jk_cli_usage("admin init", "unknown option");
            goto out;
        }
    }
    if (optind != argc) {
        rc = jk_cli_usage("admin init", "unexpected argument \"%s\"", argv[optind]);
        goto out;
    }
    int created, registered;
    char admin[32];
    jk_config_admin_source(&cfg, admin, sizeof admin);
    EVP_PKEY *key = admin_key(&cfg, &created, &err);
    if (!key) {
        rc = jk_cli_fail("admin init", &err);
        goto out;
    }
    char id[17] = "";
    jk_key_id(key, id, &err);
    printf("admin key %s: %s\n", id, created ? "created" : "exists");
    if (create_topics(&cfg, partitions, &err) || create_schema(&cfg, &err) ||
        (registered = jk_admin_register_key(&cfg, admin, key, &err)) < 0) {
        rc = jk_cli_fail("admin init", &err);
    } else {
        printf("admin key %s of %s: %s\n", id, admin, registered ? "registered" : "registered now");
        rc = service_keys(&cfg, &err) ? jk_cli_fail("admin init", &err) : JK_EXIT_OK;
    }
    EVP_PKEY_free(key);
out:
    jk_config_free(&cfg);
    return rc;
}

/* Removes a whole tenant: its topics and its schema. The log is append-only for everything a
 * tenant records; this is for throw-away tenants (tests, demonstrations), so it asks for the
 * namespace to be typed out. */
static int admin_drop(int argc, char **argv)
{
    const char *cmd = "admin drop";
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf(
            "usage: jukilog admin drop --confirm NAMESPACE\n"
            "\n"
            "Deletes the tenant's topics and its PostgreSQL schema (for throw-away tenants such\n"
            "as tests). NAMESPACE must equal JUKILOG_NAMESPACE. Keys under $JUKILOG_HOME stay.\n");
        return JK_EXIT_OK;
    }
    jk_config_t cfg;
    jk_err_t err;
    if (jk_config_load(&cfg, &err)) return jk_cli_fail(cmd, &err);
    int rc;
    if (argc != 3 || strcmp(argv[1], "--confirm") != 0 || strcmp(argv[2], cfg.ns) != 0) {
        rc = jk_cli_usage(cmd, "--confirm %s is required", cfg.ns);
        goto out;
    }
    rd_kafka_t *rk = jk_kafka_client(&cfg, RD_KAFKA_PRODUCER, NULL, &err);
    rc = rk ? 0 : -1;
    for (size_t i = 0; rk && rc == 0 && i < sizeof topics / sizeof topics[0]; i++) {
        char t[128];
        jk_config_topic(&cfg, topics[i].name, t, sizeof t);
        rc = jk_kafka_delete_topic(rk, t, &err);
    }
    if (rk) rd_kafka_destroy(rk);
    PGconn *db = rc == 0 ? jk_pg_connect(&cfg, &err) : NULL;
    if (db) {
        char schema[64], sql[128];
        jk_config_schema(&cfg, schema, sizeof schema);
        snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE", schema);
        rc = jk_pg_exec(db, sql, &err);
        PQfinish(db);
    } else {
        rc = -1;
    }
    rc = rc ? jk_cli_fail(cmd, &err) : JK_EXIT_OK;
    if (rc == JK_EXIT_OK) printf("tenant %s.%s: dropped\n", cfg.ns, cfg.prefecture);
out:
    jk_config_free(&cfg);
    return rc;
}

int cmd_admin(int argc, char **argv)
{
    static const jk_subcommand_t subs[] = {
        {"init", admin_init, "create the admin key, topics, schema; register the admin key"},
        {"drop", admin_drop, "delete a throw-away tenant's topics and schema"},
    };
    return jk_cli_dispatch("admin", argc, argv, subs, sizeof subs / sizeof subs[0]);
}
