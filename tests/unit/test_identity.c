/* test_identity.c: the logic checks of DOMAIN.md on the identity state machine
 * (projections/identity.c). Every outcome is asserted exactly: outcome, code, and the state
 * that results; a rejection must leave nothing allocated in out->next.
 *
 * Synthetic persons only; municipalities are 山口市 352039, 下関市 352012, 周南市 352152. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jukilog/identity.h"
#include "jukilog/identity_event.h"

#define RC1 "24727059608"
#define RC2 "10000000012"
#define MN1 "621498320257"
#define MN2 "983205673214"
#define YAMAGUCHI "352039"
#define SHIMONOSEKI "352012"
#define SHUNAN "352152"
#define EVENT_ID "0123456789abcdef0123456789abcdef"

/* A parsed change: reason at municipality, with the default full record (for creates and
 * modifies) overridden by extra, a JSON object whose null values delete a field. */
static void change(jk_change_t *ch, const char *reason, const char *municipality, const char *extra)
{
    const jk_reason_t *r = jk_reason_find(reason);
    assert_non_null(r);
    json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "resident_code", RC1, "reason", reason,
                          "effective_date", "2026-04-01", "municipality_code", municipality);
    if (r->kind != JK_REMOVE) {
        json_t *full = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "my_number", MN1, "name",
                                 "山田　花子", "name_kana", "ヤマダ　ハナコ", "birth_date",
                                 "1990-05-17", "sex", "2", "address", "山口県山口市亀山町1-1");
        json_object_update(o, full);
        json_decref(full);
    }
    if (extra) {
        json_error_t e;
        json_t *x = json_loads(extra, 0, &e);
        assert_non_null(x);
        const char *k;
        json_t *v;
        json_object_foreach(x, k, v)
        {
            if (json_is_null(v))
                json_object_del(o, k);
            else
                json_object_set(o, k, v);
        }
        json_decref(x);
    }
    jk_change_ctx_t ctx = {"35", NULL};
    jk_problem_t pb;
    int rc = jk_change_parse(o, &ctx, ch, &pb);
    if (rc != 0) print_error("test change refused: %s on %s: %s\n", pb.code, pb.field, pb.detail);
    assert_int_equal(rc, 0);
    json_decref(o);
}

static void apply(const char *reason, const char *municipality, const char *extra,
                  const char *sender, const jk_person_t *cur, const jk_person_t *target,
                  jk_apply_out_t *out)
{
    jk_change_t ch;
    change(&ch, reason, municipality, extra);
    jk_apply_in_t in = {&ch, sender, cur, target, EVENT_ID, 1775000000000LL};
    assert_int_equal(jk_identity_apply(&in, out), 0);
    jk_change_free(&ch);
}

static void expect_rejected(const jk_apply_out_t *out, const char *code)
{
    if (out->outcome != JK_REJECTED || out->code == NULL || strcmp(out->code, code) != 0)
        print_error("expected %s, got outcome %d code %s: %s\n", code, (int)out->outcome,
                    out->code ? out->code : "(none)", out->detail);
    assert_int_equal(out->outcome, JK_REJECTED);
    assert_string_equal(out->code, code);
    assert_true(out->detail[0] != '\0');
    /* Nothing to free and nothing to store. */
    assert_null(out->next.name);
    assert_null(out->next.name_kana);
    assert_null(out->next.address);
    assert_string_equal(out->next.resident_code, "");
    assert_int_equal(out->next.version, 0);
    assert_int_equal(out->renamed, 0);
}

static void expect_applied(const jk_apply_out_t *out)
{
    if (out->outcome != JK_APPLIED)
        print_error("expected applied, got %s: %s\n", out->code ? out->code : "(none)",
                    out->detail);
    assert_int_equal(out->outcome, JK_APPLIED);
    assert_null(out->code);
    assert_string_equal(out->next.event_id, EVENT_ID);
    assert_int_equal(out->next.broker_ms, 1775000000000LL);
}

/* Applies and moves the new state into *p (freeing the old one). */
static void step(jk_person_t *p, const char *reason, const char *municipality, const char *extra)
{
    jk_apply_out_t out;
    apply(reason, municipality, extra, municipality, p->resident_code[0] ? p : NULL, NULL, &out);
    expect_applied(&out);
    jk_person_free(p);
    *p = out.next;
}

/* A person resident at municipality, created by move_in (version 1). */
static void resident(jk_person_t *p, const char *municipality)
{
    memset(p, 0, sizeof *p);
    step(p, "move_in", municipality, NULL);
}

static void create_new(void **state)
{
    (void)state;
    jk_apply_out_t out;
    apply("move_in", YAMAGUCHI, NULL, YAMAGUCHI, NULL, NULL, &out);
    expect_applied(&out);
    const jk_person_t *n = &out.next;
    assert_string_equal(n->resident_code, RC1);
    assert_string_equal(n->my_number, MN1);
    assert_string_equal(n->name, "山田　花子");
    assert_string_equal(n->name_kana, "ヤマダ　ハナコ");
    assert_string_equal(n->birth_date, "1990-05-17");
    assert_string_equal(n->sex, "2");
    assert_string_equal(n->address, "山口県山口市亀山町1-1");
    assert_string_equal(n->municipality_code, YAMAGUCHI);
    assert_int_equal(n->status, JK_RESIDENT);
    assert_string_equal(n->reason, "move_in");
    assert_string_equal(n->effective_date, "2026-04-01");
    assert_string_equal(n->previous_municipality, "");
    assert_int_equal(n->version, 1);
    assert_int_equal(out.renamed, 0);
    jk_person_free(&out.next);

    /* Every create reason creates an unknown person; without name_kana there is no kana. */
    static const char *const creates[] = {"move_in", "birth", "ex_officio_entry", "address_set",
                                          "foreign_resident_entry"};
    for (size_t i = 0; i < 5; i++) {
        apply(creates[i], YAMAGUCHI, "{\"name_kana\":null}", YAMAGUCHI, NULL, NULL, &out);
        expect_applied(&out);
        assert_string_equal(out.next.reason, creates[i]);
        assert_null(out.next.name_kana);
        assert_int_equal(out.next.version, 1);
        jk_person_free(&out.next);
    }
}

static void birth_with_existing_code(void **state)
{
    (void)state;
    jk_person_t p;
    jk_apply_out_t out;
    resident(&p, YAMAGUCHI);
    apply("birth", YAMAGUCHI, NULL, YAMAGUCHI, &p, NULL, &out);
    expect_rejected(&out, "code_exists");
    assert_string_equal(out.detail, "birth with resident code 24727059608, which is already in "
                                    "the identity file (resident at 352039): a newborn gets a "
                                    "new resident code");
    /* Elsewhere, or removed: still a reused code. */
    apply("birth", SHIMONOSEKI, NULL, SHIMONOSEKI, &p, NULL, &out);
    expect_rejected(&out, "code_exists");
    step(&p, "death", YAMAGUCHI, NULL);
    apply("birth", YAMAGUCHI, NULL, YAMAGUCHI, &p, NULL, &out);
    expect_rejected(&out, "code_exists");
    jk_person_free(&p);
}

static void create_already_resident(void **state)
{
    (void)state;
    jk_person_t p;
    jk_apply_out_t out;
    resident(&p, YAMAGUCHI);
    apply("move_in", YAMAGUCHI, NULL, YAMAGUCHI, &p, NULL, &out);
    expect_rejected(&out, "already_resident");
    assert_string_equal(out.detail, "move_in at 352039 for 24727059608, who is already resident "
                                    "there (last change: move_in on 2026-04-01)");
    apply("ex_officio_entry", YAMAGUCHI, NULL, YAMAGUCHI, &p, NULL, &out);
    expect_rejected(&out, "already_resident");
    assert_int_equal(p.version, 1); /* cur is never touched */
    jk_person_free(&p);
}

/* Check 3, move_in first: the record moves; the old municipality's move_out is superseded. */
static void move_in_then_move_out(void **state)
{
    (void)state;
    jk_person_t p;
    jk_apply_out_t out;
    resident(&p, YAMAGUCHI);
    step(&p, "move_in", SHIMONOSEKI, "{\"address\":\"山口県下関市南部町1-1\"}");
    assert_int_equal(p.status, JK_RESIDENT);
    assert_string_equal(p.municipality_code, SHIMONOSEKI);
    assert_string_equal(p.previous_municipality, YAMAGUCHI);
    assert_string_equal(p.address, "山口県下関市南部町1-1");
    assert_int_equal(p.version, 2);

    apply("move_out", YAMAGUCHI, NULL, YAMAGUCHI, &p, NULL, &out);
    assert_int_equal(out.outcome, JK_SUPERSEDED);
    assert_null(out.code);
    assert_string_equal(out.detail, "move_out from 352039 superseded: the person moved in at "
                                    "352012 on 2026-04-01");
    assert_null(out.next.name);
    assert_int_equal(out.next.version, 0);

    /* Any remove from there, and whatever has become of the person since. */
    step(&p, "relocation", SHIMONOSEKI, "{\"address\":\"山口県下関市竹崎町4-4\"}");
    apply("death", YAMAGUCHI, NULL, YAMAGUCHI, &p, NULL, &out);
    assert_int_equal(out.outcome, JK_SUPERSEDED);
    assert_null(out.next.address);
    step(&p, "death", SHIMONOSEKI, NULL);
    apply("move_out", YAMAGUCHI, NULL, YAMAGUCHI, &p, NULL, &out);
    assert_int_equal(out.outcome, JK_SUPERSEDED);
    assert_string_equal(out.detail, "move_out from 352039 superseded: the person has since moved "
                                    "to 352012 (last change there: death on 2026-04-01)");
    /* A third municipality is not the previous one: not resident there. */
    apply("move_out", SHUNAN, NULL, SHUNAN, &p, NULL, &out);
    expect_rejected(&out, "not_resident_here");
    jk_person_free(&p);
}

/* Check 3, move_out first: removed at the old place, then created at the new one. */
static void move_out_then_move_in(void **state)
{
    (void)state;
    jk_person_t p;
    resident(&p, YAMAGUCHI);
    step(&p, "move_out", YAMAGUCHI, NULL);
    assert_int_equal(p.status, JK_REMOVED);
    assert_string_equal(p.municipality_code, YAMAGUCHI);
    assert_string_equal(p.reason, "move_out");
    assert_string_equal(p.name, "山田　花子"); /* fields kept */
    assert_string_equal(p.address, "山口県山口市亀山町1-1");
    assert_string_equal(p.previous_municipality, "");
    assert_int_equal(p.version, 2);

    step(&p, "move_in", SHIMONOSEKI, "{\"address\":\"山口県下関市南部町1-1\"}");
    assert_int_equal(p.status, JK_RESIDENT);
    assert_string_equal(p.municipality_code, SHIMONOSEKI);
    assert_string_equal(p.previous_municipality, "");
    assert_string_equal(p.address, "山口県下関市南部町1-1");
    assert_int_equal(p.version, 3);
    jk_person_free(&p);
}

/* Re-creation after a removal (not a birth) is a create like any other. */
static void create_after_removal(void **state)
{
    (void)state;
    jk_person_t p;
    resident(&p, YAMAGUCHI);
    step(&p, "nationality_lost", YAMAGUCHI, NULL);
    step(&p, "foreign_resident_entry", YAMAGUCHI, "{\"name\":\"ヤマダ　ハナコ\"}");
    assert_int_equal(p.status, JK_RESIDENT);
    assert_string_equal(p.name, "ヤマダ　ハナコ");
    assert_string_equal(p.previous_municipality, "");
    assert_int_equal(p.version, 3);
    jk_person_free(&p);
}

static void remove_refusals(void **state)
{
    (void)state;
    jk_person_t p;
    jk_apply_out_t out;
    apply("death", YAMAGUCHI, NULL, YAMAGUCHI, NULL, NULL, &out);
    expect_rejected(&out, "unknown_resident");
    assert_string_equal(out.detail, "death at 352039 for 24727059608: no person with this "
                                    "resident code in the identity file");

    resident(&p, YAMAGUCHI);
    apply("death", SHIMONOSEKI, NULL, SHIMONOSEKI, &p, NULL, &out);
    expect_rejected(&out, "not_resident_here");
    assert_string_equal(out.detail, "death from 352012 for 24727059608, who is not resident "
                                    "there (resident at 352039)");

    /* Removed already: a second remove is not for a resident. */
    step(&p, "death", YAMAGUCHI, NULL);
    apply("ex_officio_removal", YAMAGUCHI, NULL, YAMAGUCHI, &p, NULL, &out);
    expect_rejected(&out, "not_resident_here");
    assert_int_equal(p.version, 2);
    jk_person_free(&p);
}

static void modify_unknown_or_removed(void **state)
{
    (void)state;
    jk_person_t p;
    jk_apply_out_t out;
    apply("relocation", YAMAGUCHI, NULL, YAMAGUCHI, NULL, NULL, &out);
    expect_rejected(&out, "unknown_resident");
    resident(&p, YAMAGUCHI);
    step(&p, "disappearance", YAMAGUCHI, NULL);
    static const char *const modifies[] = {"relocation", "name_change", "ex_officio_correction",
                                           "my_number_change", "resident_code_change"};
    for (size_t i = 0; i < 5; i++) {
        const char *extra = i == 4 ? "{\"new_resident_code\":\"" RC2 "\"}" : NULL;
        apply(modifies[i], YAMAGUCHI, extra, YAMAGUCHI, &p, NULL, &out);
        expect_rejected(&out, "unknown_resident");
    }
    assert_string_equal(out.detail, "resident_code_change at 352039 for 24727059608: the record "
                                    "was removed at 352039 (disappearance on 2026-04-01); a "
                                    "person who returns is sent as a create");
    jk_person_free(&p);
}

static void relocation(void **state)
{
    (void)state;
    jk_person_t p;
    jk_apply_out_t out;
    resident(&p, YAMAGUCHI);

    apply("relocation", YAMAGUCHI, "{\"name\":\"山田　春子\"}", YAMAGUCHI, &p, NULL, &out);
    expect_rejected(&out, "field_not_changeable");
    assert_string_equal(out.detail, "relocation may change only the address, but \"name\" differs");
    apply("relocation", YAMAGUCHI, "{\"address\":\"山口県山口市中央1-1\",\"sex\":\"1\"}", YAMAGUCHI,
          &p, NULL, &out);
    expect_rejected(&out, "field_not_changeable");
    assert_string_equal(out.detail, "relocation may change only the address, but \"sex\" differs");
    apply("relocation", YAMAGUCHI, "{\"name_kana\":\"ヤマダ　ハルコ\"}", YAMAGUCHI, &p, NULL, &out);
    expect_rejected(&out, "field_not_changeable");
    assert_string_equal(out.detail,
                        "relocation may change only the address, but \"name_kana\" differs");

    /* The municipality: a CS cannot claim another's (wrong_municipality), and the new
     * municipality cannot relocate someone resident elsewhere (not_resident_here). The rule
     * of check 2 for municipality_code is thus reached before field_not_changeable. */
    apply("relocation", SHIMONOSEKI, NULL, YAMAGUCHI, &p, NULL, &out);
    expect_rejected(&out, "wrong_municipality");
    apply("relocation", SHIMONOSEKI, "{\"address\":\"山口県下関市南部町1-1\"}", SHIMONOSEKI, &p,
          NULL, &out);
    expect_rejected(&out, "not_resident_here");
    assert_string_equal(out.detail, "relocation from 352012 for 24727059608, who is resident at "
                                    "352039: only that municipality may modify the record; a "
                                    "move between municipalities is move_in and move_out");

    apply("relocation", YAMAGUCHI, "{\"address\":\"山口県山口市中央1-1\"}", YAMAGUCHI, &p, NULL,
          &out);
    expect_applied(&out);
    assert_string_equal(out.next.address, "山口県山口市中央1-1");
    assert_string_equal(out.next.name, p.name);
    assert_string_equal(out.next.name_kana, p.name_kana);
    assert_string_equal(out.next.my_number, p.my_number);
    assert_string_equal(out.next.municipality_code, YAMAGUCHI);
    assert_string_equal(out.next.reason, "relocation");
    assert_int_equal(out.next.status, JK_RESIDENT);
    assert_int_equal(out.next.version, 2);
    jk_person_free(&out.next);

    /* The kana is not the relocation's to change: omitted, it is kept. */
    apply("relocation", YAMAGUCHI, "{\"address\":\"山口県山口市中央1-1\",\"name_kana\":null}",
          YAMAGUCHI, &p, NULL, &out);
    expect_applied(&out);
    assert_string_equal(out.next.name_kana, "ヤマダ　ハナコ");
    jk_person_free(&out.next);

    /* A relocation that changes nothing is still an accepted change. */
    apply("relocation", YAMAGUCHI, NULL, YAMAGUCHI, &p, NULL, &out);
    expect_applied(&out);
    assert_string_equal(out.next.address, p.address);
    assert_int_equal(out.next.version, 2);
    jk_person_free(&out.next);
    jk_person_free(&p);
}

static void name_change(void **state)
{
    (void)state;
    jk_person_t p;
    jk_apply_out_t out;
    resident(&p, YAMAGUCHI);
    apply("name_change", YAMAGUCHI, "{\"address\":\"山口県山口市中央1-1\"}", YAMAGUCHI, &p, NULL,
          &out);
    expect_rejected(&out, "field_not_changeable");
    assert_string_equal(out.detail,
                        "name_change may change only the name and name_kana, but \"address\" "
                        "differs");

    apply("name_change", YAMAGUCHI, "{\"name\":\"佐藤　花子\",\"name_kana\":\"サトウ　ハナコ\"}",
          YAMAGUCHI, &p, NULL, &out);
    expect_applied(&out);
    assert_string_equal(out.next.name, "佐藤　花子");
    assert_string_equal(out.next.name_kana, "サトウ　ハナコ");
    assert_string_equal(out.next.address, p.address);
    jk_person_free(&out.next);

    /* The kana alone. */
    apply("name_change", YAMAGUCHI, "{\"name_kana\":\"ヤマダ　ハナ\"}", YAMAGUCHI, &p, NULL, &out);
    expect_applied(&out);
    assert_string_equal(out.next.name, "山田　花子");
    assert_string_equal(out.next.name_kana, "ヤマダ　ハナ");
    jk_person_free(&out.next);

    /* name_change may change the kana, so a record without one has none. */
    apply("name_change", YAMAGUCHI, "{\"name_kana\":null}", YAMAGUCHI, &p, NULL, &out);
    expect_applied(&out);
    assert_null(out.next.name_kana);
    jk_person_free(&out.next);
    jk_person_free(&p);
}

static void ex_officio_correction(void **state)
{
    (void)state;
    jk_person_t p;
    jk_apply_out_t out;
    resident(&p, YAMAGUCHI);
    apply("ex_officio_correction", YAMAGUCHI, "{\"birth_date\":\"1990-05-18\",\"sex\":\"1\"}",
          YAMAGUCHI, &p, NULL, &out);
    expect_applied(&out);
    assert_string_equal(out.next.birth_date, "1990-05-18");
    assert_string_equal(out.next.sex, "1");
    assert_string_equal(out.next.name, "山田　花子");
    assert_string_equal(out.next.reason, "ex_officio_correction");
    jk_person_free(&out.next);

    apply("ex_officio_correction", YAMAGUCHI, "{\"my_number\":\"" MN2 "\"}", YAMAGUCHI, &p, NULL,
          &out);
    expect_rejected(&out, "field_not_changeable");
    assert_string_equal(out.detail, "ex_officio_correction may change only the name, name_kana, "
                                    "birth_date, sex and address, but \"my_number\" differs");
    jk_person_free(&p);
}

static void my_number_change(void **state)
{
    (void)state;
    jk_person_t p;
    jk_apply_out_t out;
    resident(&p, YAMAGUCHI);
    apply("my_number_change", YAMAGUCHI, "{\"my_number\":\"" MN2 "\"}", YAMAGUCHI, &p, NULL, &out);
    expect_applied(&out);
    assert_string_equal(out.next.my_number, MN2);
    assert_string_equal(out.next.resident_code, RC1);
    assert_int_equal(out.next.version, 2);
    jk_person_free(&out.next);

    apply("my_number_change", YAMAGUCHI,
          "{\"my_number\":\"" MN2 "\",\"birth_date\":\"1991-01-01\"}", YAMAGUCHI, &p, NULL, &out);
    expect_rejected(&out, "field_not_changeable");
    assert_string_equal(out.detail,
                        "my_number_change may change only the my_number, but \"birth_date\" "
                        "differs");
    jk_person_free(&p);
}

static void resident_code_change(void **state)
{
    (void)state;
    jk_person_t p, other;
    jk_apply_out_t out;
    resident(&p, YAMAGUCHI);
    const char *to_rc2 = "{\"new_resident_code\":\"" RC2 "\"}";

    apply("resident_code_change", YAMAGUCHI, to_rc2, YAMAGUCHI, &p, NULL, &out);
    expect_applied(&out);
    assert_int_equal(out.renamed, 1);
    assert_string_equal(out.next.resident_code, RC2);
    assert_string_equal(out.next.my_number, MN1);
    assert_string_equal(out.next.name, "山田　花子");
    assert_string_equal(out.next.reason, "resident_code_change");
    assert_string_equal(out.next.municipality_code, YAMAGUCHI);
    assert_int_equal(out.next.version, 2);
    jk_person_free(&out.next);

    /* To a code that exists, resident or removed, anywhere. */
    resident(&other, SHUNAN);
    apply("resident_code_change", YAMAGUCHI, to_rc2, YAMAGUCHI, &p, &other, &out);
    expect_rejected(&out, "code_exists");
    assert_string_equal(out.detail, "resident_code_change from 24727059608 to 10000000012: the "
                                    "new code is already in the identity file (resident at "
                                    "352152)");
    step(&other, "death", SHUNAN, NULL);
    apply("resident_code_change", YAMAGUCHI, to_rc2, YAMAGUCHI, &p, &other, &out);
    expect_rejected(&out, "code_exists");

    /* Only the code may change. */
    apply("resident_code_change", YAMAGUCHI,
          "{\"new_resident_code\":\"" RC2 "\",\"address\":\"山口県山口市中央1-1\"}", YAMAGUCHI, &p,
          NULL, &out);
    expect_rejected(&out, "field_not_changeable");
    assert_string_equal(out.detail, "resident_code_change may change only the resident_code, but "
                                    "\"address\" differs");
    jk_person_free(&other);
    jk_person_free(&p);
}

/* Check 5 comes before everything: even a birth with a reused code sent by the wrong CS. */
static void wrong_municipality_first(void **state)
{
    (void)state;
    jk_person_t p;
    jk_apply_out_t out;
    resident(&p, YAMAGUCHI);
    apply("birth", YAMAGUCHI, NULL, SHIMONOSEKI, &p, NULL, &out);
    expect_rejected(&out, "wrong_municipality");
    assert_string_equal(out.detail, "birth for municipality 352039 was sent by the CS of 352012: "
                                    "a CS may only send changes for its own municipality");
    apply("move_in", YAMAGUCHI, NULL, SHIMONOSEKI, &p, NULL, &out);
    expect_rejected(&out, "wrong_municipality");
    apply("death", SHIMONOSEKI, NULL, YAMAGUCHI, NULL, NULL, &out);
    expect_rejected(&out, "wrong_municipality");
    apply("relocation", YAMAGUCHI, "{\"name\":\"山田　春子\"}", SHIMONOSEKI, &p, NULL, &out);
    expect_rejected(&out, "wrong_municipality");
    jk_person_free(&p);
}

/* Every accepted change counts; rejections and superseded ones do not. */
static void versions_increment(void **state)
{
    (void)state;
    jk_person_t p;
    jk_apply_out_t out;
    resident(&p, YAMAGUCHI);
    assert_int_equal(p.version, 1);
    step(&p, "relocation", YAMAGUCHI, "{\"address\":\"山口県山口市中央1-1\"}");
    assert_int_equal(p.version, 2);
    apply("relocation", YAMAGUCHI, "{\"name\":\"山田　春子\"}", YAMAGUCHI, &p, NULL, &out);
    expect_rejected(&out, "field_not_changeable");
    step(&p, "name_change", YAMAGUCHI,
         "{\"name\":\"佐藤　花子\",\"address\":\"山口県山口市中央1-1\"}");
    assert_int_equal(p.version, 3);
    step(&p, "move_in", SHIMONOSEKI,
         "{\"address\":\"山口県下関市南部町1-1\",\"name\":\"佐藤　花子\"}");
    assert_int_equal(p.version, 4);
    apply("move_out", YAMAGUCHI, NULL, YAMAGUCHI, &p, NULL, &out);
    assert_int_equal(out.outcome, JK_SUPERSEDED);
    step(&p, "my_number_change", SHIMONOSEKI,
         "{\"my_number\":\"" MN2
         "\",\"address\":\"山口県下関市南部町1-1\",\"name\":\"佐藤　花子\"}");
    assert_int_equal(p.version, 5);
    assert_string_equal(p.previous_municipality, YAMAGUCHI); /* kept by modifies */
    step(&p, "death", SHIMONOSEKI, NULL);
    assert_int_equal(p.version, 6);
    assert_string_equal(p.previous_municipality, YAMAGUCHI); /* kept by removes */
    assert_string_equal(p.my_number, MN2);
    jk_person_free(&p);
}

static void person_copy(void **state)
{
    (void)state;
    jk_person_t p, q;
    resident(&p, YAMAGUCHI);
    assert_int_equal(jk_person_copy(&q, &p), 0);
    assert_ptr_not_equal(q.name, p.name);
    assert_ptr_not_equal(q.address, p.address);
    assert_ptr_not_equal(q.name_kana, p.name_kana);
    assert_string_equal(q.name, p.name);
    assert_string_equal(q.name_kana, p.name_kana);
    assert_string_equal(q.address, p.address);
    assert_string_equal(q.resident_code, p.resident_code);
    assert_int_equal(q.version, p.version);
    jk_person_free(&p);
    jk_person_free(&p); /* idempotent */
    jk_person_free(NULL);
    free(q.name_kana);
    q.name_kana = NULL;
    assert_int_equal(jk_person_copy(&p, &q), 0);
    assert_null(p.name_kana);
    jk_person_free(&p);
    jk_person_free(&q);
}

/* --- the exported line -------------------------------------------------------------------- */

/* jk_person_print must write exactly what jansson writes for jk_person_to_json. */
static void assert_line_as_jansson(const jk_person_t *p)
{
    char *got = NULL, *want = NULL;
    size_t gn = 0, wn = 0;
    FILE *g = open_memstream(&got, &gn), *w = open_memstream(&want, &wn);
    assert_non_null(g);
    assert_non_null(w);
    assert_int_equal(jk_person_print(g, p), 0);
    json_t *o = jk_person_to_json(p);
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    assert_non_null(s);
    fprintf(w, "%s\n", s);
    free(s);
    json_decref(o);
    fclose(g);
    fclose(w);
    assert_string_equal(got, want);
    free(got);
    free(want);
}

static void person_line(void **state)
{
    (void)state;
    jk_person_t p;
    resident(&p, YAMAGUCHI);
    assert_line_as_jansson(&p);
    char *line = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&line, &n);
    assert_int_equal(jk_person_print(f, &p), 0);
    fclose(f);
    assert_string_equal(line, "{\"resident_code\":\"" RC1 "\",\"my_number\":\"" MN1 "\","
                              "\"name\":\"山田　花子\",\"name_kana\":\"ヤマダ　ハナコ\","
                              "\"birth_date\":\"1990-05-17\",\"sex\":\"2\","
                              "\"address\":\"山口県山口市亀山町1-1\","
                              "\"municipality_code\":\"352039\",\"status\":\"resident\","
                              "\"reason\":\"move_in\",\"effective_date\":\"2026-04-01\","
                              "\"version\":1}\n");
    free(line);

    /* Removed, no kana, a large version; then strings that need escapes, characters that are
     * written as they are ('/', DEL, U+2028, 4-byte UTF-8), strings that are not UTF-8 (jansson
     * leaves the field out), empty strings, and a line too long for the buffer. */
    p.status = JK_REMOVED;
    p.version = INT64_MAX;
    free(p.name_kana);
    p.name_kana = NULL;
    assert_line_as_jansson(&p);
    static const char *const names[] = {
        "say \"hi\" \\ back",
        "l1\nl2\tt\rr\bb\ff\x01\x1f",
        "a/b\x7f\xe2\x80\xa8\xf0\xa0\xae\xb7",
        "\xff",
        "\xc0\x80",
        "\xed\xa0\x80",
        "",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        free(p.name);
        p.name = strdup(names[i]);
        assert_line_as_jansson(&p);
        free(p.address);
        p.address = strdup(names[i]);
        assert_line_as_jansson(&p);
    }
    strcpy(p.reason, "\xff");
    assert_line_as_jansson(&p);
    strcpy(p.reason, "move_in");
    char *big = malloc(20001);
    assert_non_null(big);
    memset(big, '"', 20000);
    big[20000] = '\0';
    free(p.address);
    p.address = big;
    assert_line_as_jansson(&p);
    jk_person_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(create_new),
        cmocka_unit_test(birth_with_existing_code),
        cmocka_unit_test(create_already_resident),
        cmocka_unit_test(move_in_then_move_out),
        cmocka_unit_test(move_out_then_move_in),
        cmocka_unit_test(create_after_removal),
        cmocka_unit_test(remove_refusals),
        cmocka_unit_test(modify_unknown_or_removed),
        cmocka_unit_test(relocation),
        cmocka_unit_test(name_change),
        cmocka_unit_test(ex_officio_correction),
        cmocka_unit_test(my_number_change),
        cmocka_unit_test(resident_code_change),
        cmocka_unit_test(wrong_municipality_first),
        cmocka_unit_test(versions_increment),
        cmocka_unit_test(person_copy),
        cmocka_unit_test(person_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
