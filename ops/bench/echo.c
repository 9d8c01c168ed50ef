/* echo.c: the floors under ops/bench/inquiry's round trip. An inquiry goes through the log twice
 * (request appended, read by the provider; record appended, read by the terminal); this does the
 * same with none of jukilog's code. A child process reads every message of topic REQ and appends
 * an answer to topic ANS; the parent appends RATE messages a second to REQ for SECONDS seconds
 * (one thread, each message when it falls due) and reads ANS (another thread, as the inquiry
 * benchmark's terminal does), timing each message from just before it is made to the moment its
 * answer is read back and checked. Both sides use the clients' settings of jukilog's terminal and
 * provider (idempotent, acks=all, linger.ms=0, lz4, Nagle off, fetch.wait.max.ms=100). Prints one
 * key=value line; asserts nothing.
 *
 * Bare (the default): the answer is the message as it came (but for its kind, below); no
 * signature, no fsync, no encryption.
 * With --work DIR, each side also does what DESIGN.md asks of every inquiry whatever the code
 * doing it: the sender signs its message (Ed25519) and makes it durable before sending (appended
 * to a spool file in DIR and fsynced, the spool emptied every 1,024 messages); the answering side
 * verifies that signature, encrypts the answer's personal part (AES-256-GCM), signs the answer
 * and makes it durable in its own spool before sending; the reader verifies the answer's
 * signature and decrypts it. Left out: the database (look-up, position, rows), JSON, the admin
 * topic's end, and the sealing key's X25519 exchange (one a second).
 *
 * usage: jukilog-bench-echo [--work DIR] BROKERS REQ_TOPIC ANS_TOPIC RATE SECONDS [BYTES]
 * (both topics exist already, LogAppendTime, any number of partitions; they may be one topic, as
 * jukilog's operations topic is for requests and records) */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "latency.h"

#define SIG_LEN 64
#define NONCE_LEN 12
#define TAG_LEN 16
/* The part of an answer that is encrypted (a provision's personal data is about this long). */
#define SEALED_LEN 512
#define SPOOL_EMPTIED_EVERY 1024
/* A message's kind, 'Q' (asked) or 'A' (answered), is its byte at KIND_AT, after the key's
 * digits: REQ_TOPIC and ANS_TOPIC may be the same topic, as jukilog's operations topic carries
 * both requests and records, and each side then reads (and skips) the other's messages too. */
#define KIND_AT 24

static int is_kind(const rd_kafka_message_t *m, char kind)
{
    return m->len > KIND_AT && ((const char *)m->payload)[KIND_AT] == kind;
}

static void die(const char *what)
{
    fprintf(stderr, "jukilog-bench-echo: %s\n", what);
    exit(2);
}

static rd_kafka_t *client(rd_kafka_type_t type, const char *brokers)
{
    /* Key, value pairs. */
    /* clang-format off */
    static const char *const common[] = {"socket.nagle.disable", "true", NULL};
    static const char *const producer[] = {"enable.idempotence", "true", "acks", "all",
                                           "linger.ms", "0", "compression.type", "lz4", NULL};
    static const char *const consumer[] = {"group.id", "jukilog-bench-echo",
                                           "enable.auto.commit", "false",
                                           "fetch.wait.max.ms", "100", NULL};
    /* clang-format on */
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *const *sets[] = {common, type == RD_KAFKA_PRODUCER ? producer : consumer};
    int bad = rd_kafka_conf_set(conf, "bootstrap.servers", brokers, errstr, sizeof errstr);
    for (size_t s = 0; s < 2; s++)
        for (const char *const *kv = sets[s]; *kv && !bad; kv += 2)
            bad = rd_kafka_conf_set(conf, kv[0], kv[1], errstr, sizeof errstr);
    rd_kafka_t *rk = bad ? NULL : rd_kafka_new(type, conf, errstr, sizeof errstr);
    if (rk == NULL) {
        if (bad) rd_kafka_conf_destroy(conf);
        die(errstr);
    }
    if (type == RD_KAFKA_CONSUMER) rd_kafka_poll_set_consumer(rk);
    return rk;
}

/* Reads topic from its current end, on every partition. */
static rd_kafka_t *reader(const char *brokers, const char *topic)
{
    rd_kafka_t *rk = client(RD_KAFKA_CONSUMER, brokers);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
    if (rd_kafka_metadata(rk, 0, t, &md, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        md->topic_cnt != 1 || md->topics[0].partition_cnt < 1) {
        fprintf(stderr, "jukilog-bench-echo: no topic %s\n", topic);
        exit(2);
    }
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    for (int i = 0; i < md->topics[0].partition_cnt; i++)
        rd_kafka_topic_partition_list_add(l, topic, i)->offset = RD_KAFKA_OFFSET_END;
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(t);
    if (rd_kafka_assign(rk, l) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "jukilog-bench-echo: cannot read %s\n", topic);
        exit(2);
    }
    rd_kafka_topic_partition_list_destroy(l);
    return rk;
}

/* A producer learns a topic it has not produced to on its next metadata scan (up to a second):
 * asking for the topic's metadata first makes the first message go at once. */
static rd_kafka_t *writer(const char *brokers, const char *topic)
{
    rd_kafka_t *p = client(RD_KAFKA_PRODUCER, brokers);
    rd_kafka_topic_t *t = rd_kafka_topic_new(p, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    if (rd_kafka_metadata(p, 0, t, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(t);
    return p;
}

static void produce(rd_kafka_t *p, const char *topic, const void *key, size_t klen, const void *val,
                    size_t vlen)
{
    while (rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, klen),
                             RD_KAFKA_V_VALUE((void *)val, vlen),
                             RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                             RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
        rd_kafka_poll(p, 10);
    rd_kafka_poll(p, 0);
}

/* --work: one side's keys and spool. A message on the wire is its body followed by the Ed25519
 * signature of the body; an answer's body carries SEALED_LEN encrypted bytes after a nonce and a
 * tag. */
struct work {
    EVP_PKEY *own, *peer; /* signing key; the other side's, to verify */
    const unsigned char *aes_key;
    int spool;
    unsigned spooled;
};

static void sign(struct work *w, const unsigned char *body, size_t n, unsigned char sig[SIG_LEN])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t sl = SIG_LEN;
    if (ctx == NULL || EVP_DigestSignInit(ctx, NULL, NULL, NULL, w->own) != 1 ||
        EVP_DigestSign(ctx, sig, &sl, body, n) != 1)
        die("Ed25519 signing failed");
    EVP_MD_CTX_free(ctx);
}

static void verify(struct work *w, const unsigned char *msg, size_t n)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (n < SIG_LEN || ctx == NULL || EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, w->peer) != 1 ||
        EVP_DigestVerify(ctx, msg + n - SIG_LEN, SIG_LEN, msg, n - SIG_LEN) != 1)
        die("a message's signature does not hold");
    EVP_MD_CTX_free(ctx);
}

/* AES-256-GCM over SEALED_LEN bytes at p, in place, after p's nonce and tag (enc), or checked and
 * decrypted (!enc). */
static void gcm(struct work *w, int enc, unsigned char *p)
{
    unsigned char *nonce = p, *tag = p + NONCE_LEN, *data = p + NONCE_LEN + TAG_LEN;
    if (enc && RAND_bytes(nonce, NONCE_LEN) != 1) die("no random bytes");
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int len;
    int ok = ctx != NULL &&
             EVP_CipherInit_ex2(ctx, EVP_aes_256_gcm(), w->aes_key, nonce, enc, NULL) == 1 &&
             EVP_CipherUpdate(ctx, data, &len, data, SEALED_LEN) == 1;
    if (ok && enc)
        ok = EVP_CipherFinal_ex(ctx, data + len, &len) == 1 &&
             EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag) == 1;
    else if (ok)
        ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) == 1 &&
             EVP_CipherFinal_ex(ctx, data + len, &len) == 1;
    EVP_CIPHER_CTX_free(ctx);
    if (!ok) die(enc ? "AES-256-GCM failed" : "an answer does not decrypt");
}

/* Signs the body of msg (n bytes with room for the signature after them) and makes it durable
 * in the spool before it may be sent. Returns the message's length. */
static size_t sign_and_spool(struct work *w, unsigned char *msg, size_t n)
{
    sign(w, msg, n, msg + n);
    n += SIG_LEN;
    if (++w->spooled > SPOOL_EMPTIED_EVERY) {
        if (ftruncate(w->spool, 0) != 0 || lseek(w->spool, 0, SEEK_SET) != 0) die("spool");
        w->spooled = 1;
    }
    if (write(w->spool, msg, n) != (ssize_t)n || fsync(w->spool) != 0) die("spool write");
    return n;
}

static int open_spool(const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, "jukilog-bench-echo: cannot make the spool %s: %s\n", path,
                strerror(errno));
        exit(2);
    }
    return fd;
}

static volatile sig_atomic_t quit;
static void on_term(int sig)
{
    (void)sig;
    quit = 1;
}

/* The answering side. */
static void echo(const char *brokers, const char *req, const char *ans, struct work *w)
{
    signal(SIGTERM, on_term);
    rd_kafka_t *c = reader(brokers, req), *p = writer(brokers, ans);
    unsigned char *out = NULL;
    size_t cap = 0;
    while (!quit) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
        if (m && !m->err && is_kind(m, 'Q')) {
            if (w) verify(w, m->payload, m->len);
            size_t n = m->len - (w ? SIG_LEN : 0);
            if (w && n < NONCE_LEN + TAG_LEN + SEALED_LEN) die("a message too short to answer");
            if (cap < m->len && (out = realloc(out, cap = m->len)) == NULL) die("out of memory");
            memcpy(out, m->payload, n);
            out[KIND_AT] = 'A';
            if (w) {
                gcm(w, 1, out + n - (NONCE_LEN + TAG_LEN + SEALED_LEN));
                n = sign_and_spool(w, out, n);
            }
            produce(p, ans, m->key, m->key_len, out, n);
        }
        if (m) rd_kafka_message_destroy(m);
        rd_kafka_poll(p, 0);
    }
    free(out);
    rd_kafka_flush(p, 5000);
    rd_kafka_destroy(p);
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
}

/* The asking side's sending thread: message i at start + i / rate, the time it was begun in
 * t0[i] (published to the reader under mu, with sent). */
struct asker {
    rd_kafka_t *p;
    const char *topic;
    struct work *w;
    int rate, bytes;
    size_t total;
    long long *t0;
    pthread_mutex_t mu;
    size_t sent; /* under mu */
};

static void *send_all(void *arg)
{
    struct asker *a = arg;
    size_t body = (size_t)a->bytes;
    unsigned char *val = malloc(body + SIG_LEN);
    if (val == NULL) die("out of memory");
    memset(val, 'x', body);
    long long start = now_us();
    for (size_t i = 0; i < a->total; i++) {
        sleep_until_due(start, i, a->rate);
        char key[24];
        int kl = snprintf(key, sizeof key, "%zu", i);
        long long t = now_us();
        pthread_mutex_lock(&a->mu);
        a->t0[i] = t;
        pthread_mutex_unlock(&a->mu);
        memcpy(val, key, (size_t)kl + 1);
        val[KIND_AT] = 'Q';
        size_t n = a->w ? sign_and_spool(a->w, val, body) : body;
        produce(a->p, a->topic, key, (size_t)kl, val, n);
        pthread_mutex_lock(&a->mu);
        a->sent = i + 1;
        pthread_mutex_unlock(&a->mu);
    }
    free(val);
    return NULL;
}

static const char usage[] =
    "usage: jukilog-bench-echo [--work DIR] BROKERS REQ_TOPIC ANS_TOPIC RATE SECONDS [BYTES]\n"
    "Round trips through the log twice with none of jukilog's code (see ops/bench/echo.c);\n"
    "--work DIR adds the signatures, spool fsyncs and encryption every inquiry needs.\n";

int main(int argc, char **argv)
{
    const char *work_dir = NULL;
    if (argc > 1 && strcmp(argv[1], "--help") == 0) {
        fputs(usage, stdout);
        return 0;
    }
    if (argc > 2 && strcmp(argv[1], "--work") == 0) {
        work_dir = argv[2];
        argc -= 2;
        argv += 2;
    }
    if (argc < 6 || argc > 7) {
        fputs(usage, stderr);
        return 2;
    }
    const char *brokers = argv[1], *req = argv[2], *ans = argv[3];
    int rate = atoi(argv[4]), seconds = atoi(argv[5]), bytes = argc == 7 ? atoi(argv[6]) : 1500;
    int min_bytes = work_dir ? 32 + NONCE_LEN + TAG_LEN + SEALED_LEN : 32;
    if (rate < 1 || seconds < 1 || bytes < min_bytes) {
        fprintf(stderr, "jukilog-bench-echo: bad arguments (BYTES at least %d)\n", min_bytes);
        return 2;
    }
    /* Both sides' keys are made before the fork, so each knows the other's. */
    EVP_PKEY *ask_key = NULL, *answer_key = NULL;
    unsigned char aes_key[32];
    if (work_dir) {
        ask_key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        answer_key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        if (!ask_key || !answer_key || RAND_bytes(aes_key, sizeof aes_key) != 1)
            die("cannot make keys");
    }
    pid_t parent = getpid(), child = fork();
    if (child < 0) return 2;
    if (child == 0) {
        /* The answering side ends with the asking side, also when that one fails. */
        if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent) _exit(2);
        struct work w = {answer_key, ask_key, aes_key, -1, 0};
        if (work_dir) w.spool = open_spool(work_dir, "answers.spool");
        echo(brokers, req, ans, work_dir ? &w : NULL);
        _exit(0);
    }
    struct work w = {ask_key, answer_key, aes_key, -1, 0};
    if (work_dir) w.spool = open_spool(work_dir, "requests.spool");
    rd_kafka_t *c = reader(brokers, ans);
    struct asker a = {.p = writer(brokers, req),
                      .topic = req,
                      .w = work_dir ? &w : NULL,
                      .rate = rate,
                      .bytes = bytes,
                      .mu = PTHREAD_MUTEX_INITIALIZER};
    sleep(2); /* both readers positioned at the ends */
    a.total = (size_t)rate * (size_t)seconds;
    size_t done = 0;
    a.t0 = calloc(a.total, sizeof *a.t0);
    long long *lat = calloc(a.total, sizeof *lat);
    if (!a.t0 || !lat) die("out of memory");
    pthread_t sender;
    if (pthread_create(&sender, NULL, send_all, &a) != 0) die("cannot start the sending thread");
    long long stop_at = now_us() + (long long)seconds * 1000000 + 15000000;
    while (done < a.total && now_us() < stop_at) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
        if (m && !m->err && is_kind(m, 'A')) {
            if (work_dir) {
                verify(&w, m->payload, m->len);
                unsigned char sealed[NONCE_LEN + TAG_LEN + SEALED_LEN];
                memcpy(sealed, (const unsigned char *)m->payload + m->len - SIG_LEN - sizeof sealed,
                       sizeof sealed);
                gcm(&w, 0, sealed);
            }
            char key[24];
            size_t kl = m->key_len < sizeof key ? m->key_len : sizeof key - 1;
            memcpy(key, m->key, kl);
            key[kl] = '\0';
            size_t i = strtoull(key, NULL, 10);
            pthread_mutex_lock(&a.mu);
            if (i < a.sent && a.t0[i]) {
                lat[done++] = now_us() - a.t0[i];
                a.t0[i] = 0;
            }
            pthread_mutex_unlock(&a.mu);
        }
        if (m) rd_kafka_message_destroy(m);
    }
    pthread_join(sender, NULL);
    kill(child, SIGTERM);
    waitpid(child, NULL, 0);
    qsort(lat, done, sizeof *lat, cmp_ll);
    size_t within20 = 0;
    while (within20 < done && lat[within20] <= 20000)
        within20++;
    printf("rate=%d seconds=%d bytes=%d work=%s sent=%zu echoed=%zu p50_ms=%.1f p90_ms=%.1f "
           "p99_ms=%.1f max_ms=%.1f within_20ms_pct=%.1f\n",
           rate, seconds, bytes, work_dir ? "yes" : "no", a.sent, done,
           done ? lat[done / 2] / 1000.0 : -1, done ? lat[done * 90 / 100] / 1000.0 : -1,
           done ? lat[done * 99 / 100] / 1000.0 : -1, done ? lat[done - 1] / 1000.0 : -1,
           done ? 100.0 * (double)within20 / (double)done : 0.0);
    free(a.t0);
    free(lat);
    if (work_dir) close(w.spool);
    EVP_PKEY_free(ask_key);
    EVP_PKEY_free(answer_key);
    rd_kafka_flush(a.p, 5000);
    rd_kafka_destroy(a.p);
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    return 0;
}
