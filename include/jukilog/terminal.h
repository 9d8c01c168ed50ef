/* terminal.h: an operator's terminal (業務端末) on the log.
 *
 * A terminal never touches the database (DESIGN.md "Inquiries"): it signs a request with the
 * operator's key, appends it to the operations topic, and reads the provider's answer (a
 * provision or a refusal, operations.h) from the same topic, opening the sealed personal data
 * with the operator's encryption key. It reads the topic from where it ended when the terminal
 * was opened, so every answer to a request made since is seen.
 *
 * A terminal has two halves that share nothing but the keys they only read: the sending half
 * (jk_terminal_append, _send, _flush) and the reading half (jk_terminal_next, _await,
 * _open_answer). One thread may send while another reads; each half is one thread's at a time. */
#ifndef JUKILOG_TERMINAL_H
#define JUKILOG_TERMINAL_H

#include <stdint.h>
#include <jansson.h>

#include "jukilog/config.h"
#include "jukilog/err.h"

typedef struct jk_terminal jk_terminal_t;

/* Loads the configuration of a program someone waits on (a terminal, the provider): its
 * producer sends each event at once instead of lingering to batch (-X linger.ms=N overrides). */
int jk_terminal_config(jk_config_t *cfg, jk_err_t *err);

/* Opens operator_id's terminal: keys from $JUKILOG_HOME/keys/operators/<id>/, the producer of
 * source "op:<id>", and a reader of the operations topic from its current end, or from its
 * beginning when from_start (to find the answer to an earlier request). */
jk_terminal_t *jk_terminal_open(const jk_config_t *cfg, const char *operator_id, int from_start,
                                jk_err_t *err);
void jk_terminal_close(jk_terminal_t *t);

/* Signs and spools a request (type "request.inquiry", ...; data taken) with a fresh id, written
 * to id. Nothing is sent before jk_terminal_flush. */
int jk_terminal_append(jk_terminal_t *t, const char *type, json_t *data, char id[33],
                       jk_err_t *err);
/* Sends what is spooled and waits for the broker's confirmation. On failure the requests stay
 * spooled (and go out first with the operator's next request); err says so. */
int jk_terminal_flush(jk_terminal_t *t, jk_err_t *err);
/* Sends what is spooled without waiting for the broker (jk_producer_send): for a terminal that
 * has more requests to make before it reads answers. A request that fails stays spooled and
 * goes out with the next send or flush. */
int jk_terminal_send(jk_terminal_t *t, jk_err_t *err);

/* An answer read from the log: the record's type ("provision.inquiry", "refusal.bulk", ...) and
 * data, and its broker time. */
typedef struct jk_answer {
    char type[64];
    char request_id[33];
    json_t *data; /* owned by the caller of jk_terminal_next */
    int64_t broker_ms;
} jk_answer_t;

/* Reads the next provider record, waiting at most timeout_ms. Returns 1 with *a filled, 0 when
 * none came in time, -1 on error. Records whose signature does not hold are skipped. */
int jk_terminal_next(jk_terminal_t *t, int timeout_ms, jk_answer_t *a, jk_err_t *err);

/* Waits for the record answering request_id (other records are dropped). Returns 1 with *a
 * filled, 0 on timeout, -1 on error. */
int jk_terminal_await(jk_terminal_t *t, const char *request_id, int timeout_ms, jk_answer_t *a,
                      jk_err_t *err);

/* Appends one request (data taken), sends it, and waits for its answer: 1 with *a filled, 0 when
 * none came within timeout_ms (the request stays on the log and is answered when the provider
 * runs), -1 on error (the request could not be appended: err says so). */
int jk_terminal_ask(jk_terminal_t *t, const char *type, json_t *data, int timeout_ms, char id[33],
                    jk_answer_t *a, jk_err_t *err);

/* Opens a provision's sealed answer with the operator's encryption key: the plaintext JSON. */
json_t *jk_terminal_open_answer(jk_terminal_t *t, const jk_answer_t *a, jk_err_t *err);

/* For the terminal commands (inquire, disclose): prints the outcome of a request (a refusal's
 * reason, or the opened answer through print, or as one JSON object) and returns the exit
 * status: 0 provided, 1 refused, 2 error. */
int jk_terminal_report(jk_terminal_t *t, const jk_answer_t *a, int as_json,
                       void (*print)(const json_t *answer), const char *cmd);
/* Opens the operator's terminal, asks (data taken), waits timeout_s, reports. With data NULL,
 * type is the id of an earlier request, whose answer is looked for from the log's start. */
int jk_terminal_run(const jk_config_t *cfg, const char *cmd, const char *operator_id,
                    const char *type, json_t *data, int timeout_s, int as_json,
                    void (*print)(const json_t *answer));

#endif
