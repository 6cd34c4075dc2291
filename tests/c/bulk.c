/*
 * The C face's bulk and reporting calls, run by tests/c_abi.rs against the emulator (natively and
 * under valgrind): timrest_delete_by_sender with timrest_call_info, timrest_delete_many,
 * timrest_purge_sender, timrest_set_log_callback, and their NULL and bad-size arguments.
 *
 *   bulk call-info               one deletion in TEST_GROUP; prints its call info
 *   bulk many N                  items bulk-0 .. bulk-(N-1) by TEST_SENDER (the test leaves some groups out)
 *   bulk stop N K                the same N items; the callback asks to stop at the K-th result
 *   bulk purge SENDER            purges SENDER everywhere; prints the report
 *   bulk log                     one deletion that succeeds and one that fails, with a DEBUG log callback
 *   bulk args                    NULL and bad-size arguments of every new function
 *   bulk stats                   three deletions in TEST_GROUP on a client with a 400 ms timeout,
 *                                against the faults the driver queued; prints one EVENT line per
 *                                event, then STATS (timrest_client_stats) and JSON (…_stats_json)
 *
 * Credentials and the emulator come from the TIM_* environment (timrest_client_from_env).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <timrest.h>

#include "check.h"

/* ---- call info ------------------------------------------------------------------------------ */

static int call_info(timrest_client *client) {
    timrest_call_info info;
    timrest_error *err = NULL;
    memset(&info, 0, sizeof info);
    info.size = sizeof info;
    if (timrest_delete_by_sender(client, getenv("TEST_GROUP"), getenv("TEST_SENDER"), NULL, &info, &err) !=
        TIMREST_OK) {
        fprintf(stderr, "delete: %s\n", timrest_error_message(err));
        timrest_error_free(err);
        return 1;
    }
    EXPECT(info.size == sizeof info);
    printf("random=%lu attempts=%u elapsed_us=%lu\n", (unsigned long)info.random, (unsigned)info.attempts,
           (unsigned long)info.elapsed_us);
    /* A NULL info_out is allowed: the plain status. */
    EXPECT(timrest_delete_by_sender(client, getenv("TEST_GROUP"), getenv("TEST_SENDER"), NULL, NULL, NULL) ==
           TIMREST_OK);
    return 0;
}

/* ---- delete_many ------------------------------------------------------------------------------- */

typedef struct {
    size_t n;
    unsigned *seen;      /* per index: how many times the callback saw it */
    size_t calls;
    size_t ok, not_found, other;
    size_t stop_at;      /* 0: never ask to stop */
    int bad_result;      /* a result whose fields disagree */
    char first_bad[256]; /* what the first such result said */
} tally;

/* Notes a result whose fields disagree; the first one is described for the failure message. */
static void bad(tally *t, const timrest_item_result *r, const char *why) {
    if (!t->bad_result) {
        snprintf(t->first_bad, sizeof t->first_bad, "item %lu: %s (status %d, attempts %u, code %lld: %s)",
                 (unsigned long)r->index, why, (int)r->status, (unsigned)r->attempts,
                 r->error != NULL ? (long long)timrest_error_code(r->error) : 0LL,
                 r->error != NULL ? timrest_error_message(r->error) : "no error");
    }
    t->bad_result = 1;
}

static int on_result(void *userdata, const timrest_item_result *r) {
    tally *t = (tally *)userdata;
    t->calls++;
    if (r == NULL || r->size < sizeof(timrest_item_result) || r->index >= t->n) {
        t->bad_result = 1;
        return 1;
    }
    t->seen[r->index]++;
    if (r->status == TIMREST_OK) {
        t->ok++;
        if (r->error != NULL || r->random < 0 || r->group_id == NULL) bad(t, r, "an ok result with an error or without its fields");
        if (r->attempts != 1) bad(t, r, "an ok result after a retry");
    } else {
        if (r->error == NULL || timrest_error_status(r->error) != r->status) {
            bad(t, r, "a failure whose error object disagrees");
            return 1;
        }
        if (r->status == TIMREST_GROUP_NOT_FOUND) {
            t->not_found++;
            if (timrest_error_code(r->error) != 10010) bad(t, r, "not found without 10010");
        } else {
            t->other++;
        }
    }
    return t->stop_at != 0 && t->calls >= t->stop_at;
}

/* Every attempt that is retried, on stderr: what a failure of this program needs to be read. */
static void print_retries(void *userdata, int level, const char *target, const char *message) {
    (void)userdata;
    (void)level;
    (void)target;
    if (strstr(message, "retrying") != NULL) fprintf(stderr, "retried: %s\n", message);
}

static int many(timrest_client *client, size_t n, size_t stop_at) {
    const char *sender = getenv("TEST_SENDER");
    timrest_item *items = calloc(n, sizeof *items);
    char (*names)[32] = calloc(n, sizeof *names);
    tally t;
    timrest_batch_options options;
    timrest_batch_report report;
    timrest_error *err = NULL;
    size_t i, once = 0, never = 0;
    int status;

    memset(&t, 0, sizeof t);
    t.n = n;
    t.seen = calloc(n, sizeof *t.seen);
    t.stop_at = stop_at;
    for (i = 0; i < n; i++) {
        sprintf(names[i], "bulk-%lu", (unsigned long)i);
        items[i].group_id = names[i];
        items[i].sender = sender;
        items[i].topic_id = NULL;
    }
    memset(&options, 0, sizeof options);
    options.size = sizeof options;
    options.concurrency = 16;
    memset(&report, 0, sizeof report);
    report.size = sizeof report;

    EXPECT(timrest_set_log_callback(TIMREST_LOG_DEBUG, print_retries, NULL) == TIMREST_OK);
    status = timrest_delete_many(client, items, n, &options, on_result, &t, &report, &err);
    EXPECT(timrest_set_log_callback(TIMREST_LOG_OFF, NULL, NULL) == TIMREST_OK);
    if (status != TIMREST_OK) {
        fprintf(stderr, "delete_many: %s\n", timrest_error_message(err));
        timrest_error_free(err);
        return 1;
    }
    for (i = 0; i < n; i++) {
        if (t.seen[i] == 1) once++;
        if (t.seen[i] == 0) never++;
        EXPECT(t.seen[i] <= 1);
    }
    if (t.bad_result) fprintf(stderr, "%s\n", t.first_bad);
    EXPECT(!t.bad_result);
    EXPECT(report.size == sizeof report);
    EXPECT(report.ok == t.ok && report.failed == t.not_found + t.other && report.skipped == 0);
    EXPECT(report.ok + report.failed == t.calls);
    printf("calls=%lu once=%lu never=%lu ok=%lu not_found=%lu other=%lu stopped_early=%d\n", (unsigned long)t.calls,
           (unsigned long)once, (unsigned long)never, (unsigned long)t.ok, (unsigned long)t.not_found,
           (unsigned long)t.other, report.stopped_early ? 1 : 0);
    free(t.seen);
    free(names);
    free(items);
    return 0;
}

/* ---- purge ----------------------------------------------------------------------------------- */

static int purge(timrest_client *client, const char *sender) {
    size_t n = 4096;
    tally t;
    timrest_purge_options options;
    timrest_batch_report report;
    timrest_error *err = NULL;

    memset(&t, 0, sizeof t);
    t.n = n;
    t.seen = calloc(n, sizeof *t.seen);
    memset(&options, 0, sizeof options);
    options.size = sizeof options;
    options.page_size = 7; /* several pages even for a few groups */
    memset(&report, 0, sizeof report);
    report.size = sizeof report;
    if (timrest_purge_sender(client, sender, &options, on_result, &t, &report, &err) != TIMREST_OK) {
        fprintf(stderr, "purge: %s\n", timrest_error_message(err));
        timrest_error_free(err);
        free(t.seen);
        return 1;
    }
    EXPECT(!t.bad_result && report.ok == t.ok && report.ok + report.failed == t.calls);
    printf("calls=%lu ok=%lu failed=%lu skipped=%lu\n", (unsigned long)t.calls, (unsigned long)report.ok,
           (unsigned long)report.failed, (unsigned long)report.skipped);
    free(t.seen);
    return 0;
}

/* ---- log ------------------------------------------------------------------------------------- */

static void on_log(void *userdata, int level, const char *target, const char *message) {
    unsigned *records = (unsigned *)userdata;
    (*records)++;
    printf("LOG %d %s %s\n", level, target, message);
}

static int logging(timrest_client *client) {
    unsigned records = 0;
    timrest_error *err = NULL;
    EXPECT(timrest_set_log_callback(TIMREST_LOG_DEBUG, on_log, &records) == TIMREST_OK);
    EXPECT(timrest_delete_by_sender(client, getenv("TEST_GROUP"), getenv("TEST_SENDER"), NULL, NULL, NULL) ==
           TIMREST_OK);
    EXPECT(timrest_delete_by_sender(client, "@TGS#NOSUCHGROUP", getenv("TEST_SENDER"), NULL, NULL, &err) ==
           TIMREST_GROUP_NOT_FOUND);
    timrest_error_free(err);
    /* Off: nothing more arrives. */
    EXPECT(timrest_set_log_callback(TIMREST_LOG_OFF, on_log, &records) == TIMREST_OK);
    {
        unsigned before = records;
        EXPECT(timrest_delete_by_sender(client, getenv("TEST_GROUP"), getenv("TEST_SENDER"), NULL, NULL, NULL) ==
               TIMREST_OK);
        EXPECT(records == before);
    }
    EXPECT(timrest_set_log_callback(TIMREST_LOG_DEBUG, NULL, NULL) == TIMREST_OK);
    printf("records=%u\n", records);
    return 0;
}

/* ---- bad arguments ---------------------------------------------------------------------------- */

static int args(timrest_client *client) {
    timrest_call_info info;
    timrest_item item;
    timrest_batch_options options;
    timrest_purge_options purge_options;
    timrest_batch_report report;
    timrest_error *err = NULL;
    const char *types[1] = {NULL};
    tally t;

    memset(&t, 0, sizeof t);
    item.group_id = "g";
    item.sender = "s";
    item.topic_id = NULL;
    memset(&info, 0, sizeof info);
    memset(&options, 0, sizeof options);
    memset(&purge_options, 0, sizeof purge_options);
    memset(&report, 0, sizeof report);

    /* timrest_delete_by_sender */
    EXPECT(timrest_delete_by_sender(NULL, "g", "s", NULL, NULL, NULL) == TIMREST_NULL_ARGUMENT);
    EXPECT(timrest_delete_by_sender(client, NULL, "s", NULL, NULL, NULL) == TIMREST_NULL_ARGUMENT);
    EXPECT(timrest_delete_by_sender(client, "g", NULL, NULL, NULL, NULL) == TIMREST_NULL_ARGUMENT);
    EXPECT(timrest_delete_by_sender(client, "g\xff", "s", NULL, NULL, NULL) == TIMREST_INVALID_UTF8);
    info.size = 0; /* forgot to set it */
    EXPECT(timrest_delete_by_sender(client, "g", "s", NULL, &info, &err) == TIMREST_INVALID_ARGUMENT);
    EXPECT(err != NULL && strstr(timrest_error_message(err), "info_out->size") != NULL);
    EXPECT(timrest_error_attempts(err) == 0);
    timrest_error_free(err);
    err = NULL;
    EXPECT(info.size == 0 && info.attempts == 0); /* out-parameters are written only on success */

    /* timrest_delete_many */
    report.size = sizeof report;
    EXPECT(timrest_delete_many(NULL, &item, 1, NULL, NULL, NULL, &report, NULL) == TIMREST_NULL_ARGUMENT);
    EXPECT(timrest_delete_many(client, NULL, 1, NULL, NULL, NULL, &report, NULL) == TIMREST_NULL_ARGUMENT);
    EXPECT(timrest_delete_many(client, &item, 1, NULL, NULL, NULL, NULL, NULL) == TIMREST_NULL_ARGUMENT);
    options.size = 1;
    EXPECT(timrest_delete_many(client, &item, 1, &options, NULL, NULL, &report, NULL) == TIMREST_INVALID_ARGUMENT);
    options.size = sizeof options;
    options.concurrency = 5000;
    EXPECT(timrest_delete_many(client, &item, 1, &options, NULL, NULL, &report, NULL) == TIMREST_INVALID_ARGUMENT);
    report.size = 3;
    EXPECT(timrest_delete_many(client, &item, 1, NULL, NULL, NULL, &report, NULL) == TIMREST_INVALID_ARGUMENT);
    EXPECT(report.size == 3 && report.ok == 0);
    /* No items: nothing to do, a report of zeros. */
    report.size = sizeof report;
    report.ok = 99;
    EXPECT(timrest_delete_many(client, NULL, 0, NULL, on_result, &t, &report, NULL) == TIMREST_OK);
    EXPECT(report.ok == 0 && report.failed == 0 && t.calls == 0);
    /* An item that cannot be read fails alone, before anything is sent for it. */
    {
        timrest_item bad[2];
        bad[0].group_id = NULL;
        bad[0].sender = "s";
        bad[0].topic_id = NULL;
        bad[1].group_id = "g";
        bad[1].sender = "s\xc3";
        bad[1].topic_id = NULL;
        t.n = 2;
        t.seen = (unsigned *)calloc(2, sizeof(unsigned));
        EXPECT(timrest_delete_many(client, bad, 2, NULL, on_result, &t, &report, NULL) == TIMREST_OK);
        EXPECT(report.failed == 2 && t.other == 2 && t.seen[0] == 1 && t.seen[1] == 1);
        free(t.seen);
    }

    /* timrest_purge_sender */
    EXPECT(timrest_purge_sender(NULL, "s", NULL, NULL, NULL, &report, NULL) == TIMREST_NULL_ARGUMENT);
    EXPECT(timrest_purge_sender(client, NULL, NULL, NULL, NULL, &report, NULL) == TIMREST_NULL_ARGUMENT);
    EXPECT(timrest_purge_sender(client, "s", NULL, NULL, NULL, NULL, NULL) == TIMREST_NULL_ARGUMENT);
    EXPECT(timrest_purge_sender(client, "s\xff", NULL, NULL, NULL, &report, NULL) == TIMREST_INVALID_UTF8);
    purge_options.size = 2;
    EXPECT(timrest_purge_sender(client, "s", &purge_options, NULL, NULL, &report, NULL) == TIMREST_INVALID_ARGUMENT);
    purge_options.size = sizeof purge_options;
    purge_options.n_group_types = 1; /* but no array */
    EXPECT(timrest_purge_sender(client, "s", &purge_options, NULL, NULL, &report, NULL) == TIMREST_NULL_ARGUMENT);
    purge_options.group_types = types; /* an array holding NULL */
    EXPECT(timrest_purge_sender(client, "s", &purge_options, NULL, NULL, &report, NULL) == TIMREST_NULL_ARGUMENT);
    types[0] = "Channel";
    EXPECT(timrest_purge_sender(client, "s", &purge_options, NULL, NULL, &report, &err) == TIMREST_INVALID_ARGUMENT);
    EXPECT(err != NULL && strstr(timrest_error_message(err), "unknown group type") != NULL);
    timrest_error_free(err);
    err = NULL;
    purge_options.n_group_types = 0;
    purge_options.group_types = NULL;
    purge_options.page_size = 9000;
    EXPECT(timrest_purge_sender(client, "s", &purge_options, NULL, NULL, &report, NULL) == TIMREST_INVALID_ARGUMENT);

    /* timrest_set_log_callback */
    EXPECT(timrest_set_log_callback(42, on_log, NULL) == TIMREST_INVALID_ARGUMENT);
    EXPECT(timrest_set_log_callback(-1, NULL, NULL) == TIMREST_INVALID_ARGUMENT);
    EXPECT(timrest_set_log_callback(TIMREST_LOG_OFF, NULL, NULL) == TIMREST_OK);
    puts("args ok");
    return 0;
}

/* ---- stats and events ---------------------------------------------------------------------- */

static unsigned events_seen = 0;

static void on_event(void *userdata, const timrest_event *e) {
    unsigned *count = userdata;
    ++*count;
    EXPECT(e->struct_size >= sizeof *e);
    EXPECT(e->kind != NULL && e->service != NULL && e->command != NULL && e->server_address != NULL);
    printf("EVENT kind=%s command=%s server=%s:%u attempt=%u http=%u code=%lld error=%s random=%lld "
           "duration_us=%lld backend=%s\n",
           e->kind, e->command, e->server_address, (unsigned)e->server_port, e->attempt, e->http_status,
           (long long)e->code, e->error_kind ? e->error_kind : "-", (long long)e->random, (long long)e->duration_us,
           e->limiter_backend ? e->limiter_backend : "-");
}

static int stats(void) {
    timrest_config *config = NULL;
    timrest_client *client = NULL;
    timrest_error *err = NULL;
    timrest_stats st;
    char *json = NULL;
    int i;
    EXPECT(timrest_config_from_env(&config, NULL) == TIMREST_OK);
    EXPECT(timrest_config_set_timeout_ms(config, 400) == TIMREST_OK);
    EXPECT(timrest_config_set_rate_limit(config, 50.0) == TIMREST_OK);
    EXPECT(timrest_client_new(config, &client, NULL) == TIMREST_OK);
    timrest_config_free(config);
    if (client == NULL) return 1;
    EXPECT(timrest_set_event_callback(client, on_event, &events_seen, NULL) == TIMREST_OK);
    for (i = 0; i < 3; i++) {
        timrest_status status = timrest_delete_group_msg_by_sender(client, getenv("TEST_GROUP"), "spammer", NULL, &err);
        printf("CALL %d status=%s\n", i, timrest_status_name(status));
        timrest_error_free(err);
        err = NULL;
    }
    /* Off again: the next call reports nothing. */
    EXPECT(timrest_set_event_callback(client, NULL, NULL, NULL) == TIMREST_OK);
    {
        unsigned before = events_seen;
        EXPECT(timrest_delete_group_msg_by_sender(client, getenv("TEST_GROUP"), "spammer", NULL, NULL) == TIMREST_OK);
        EXPECT(events_seen == before);
    }
    /* A size that is too small is refused, and nothing is written. */
    memset(&st, 0, sizeof st);
    st.struct_size = sizeof(size_t);
    EXPECT(timrest_client_stats(client, &st, NULL) == TIMREST_INVALID_ARGUMENT);
    EXPECT(st.calls == 0);
    EXPECT(timrest_client_stats(client, NULL, NULL) == TIMREST_NULL_ARGUMENT);
    st.struct_size = sizeof st;
    EXPECT(timrest_client_stats(client, &st, NULL) == TIMREST_OK);
    printf("STATS calls=%llu ok=%llu failed=%llu attempts=%llu retries=%llu rate_limited=%llu limiter_waits=%llu "
           "limiter_wait_us=%llu backend_errors=%llu fallback_active=%llu connections_opened=%llu rate=%.3f\n",
           (unsigned long long)st.calls, (unsigned long long)st.ok, (unsigned long long)st.failed,
           (unsigned long long)st.attempts, (unsigned long long)st.retries, (unsigned long long)st.rate_limited,
           (unsigned long long)st.limiter_waits, (unsigned long long)st.limiter_wait_us,
           (unsigned long long)st.limiter_backend_errors, (unsigned long long)st.fallback_active,
           (unsigned long long)st.connections_opened, st.effective_rate_limit);
    EXPECT(timrest_client_stats_json(client, &json, NULL) == TIMREST_OK);
    if (json != NULL) {
        printf("JSON %s\n", json);
        timrest_string_free(json);
    }
    timrest_client_free(client);
    return 0;
}

int main(int argc, char **argv) {
    timrest_client *client;
    int rc = 2;
    if (argc < 2) {
        fprintf(stderr, "usage: bulk call-info|many N|stop N K|purge SENDER|log|args|stats\n");
        return 2;
    }
    if (strcmp(argv[1], "stats") == 0) {
        rc = stats();
        if (failures) {
            fprintf(stderr, "%d expectation(s) failed\n", failures);
            return 1;
        }
        return rc;
    }
    client = client_or_die();
    if (strcmp(argv[1], "call-info") == 0) {
        rc = call_info(client);
    } else if (strcmp(argv[1], "many") == 0 && argc == 3) {
        rc = many(client, (size_t)strtoul(argv[2], NULL, 10), 0);
    } else if (strcmp(argv[1], "stop") == 0 && argc == 4) {
        rc = many(client, (size_t)strtoul(argv[2], NULL, 10), (size_t)strtoul(argv[3], NULL, 10));
    } else if (strcmp(argv[1], "purge") == 0 && argc == 3) {
        rc = purge(client, argv[2]);
    } else if (strcmp(argv[1], "log") == 0) {
        rc = logging(client);
    } else if (strcmp(argv[1], "args") == 0) {
        rc = args(client);
    } else {
        fprintf(stderr, "bulk: unknown command %s\n", argv[1]);
    }
    timrest_client_free(client);
    if (failures) {
        fprintf(stderr, "%d expectation(s) failed\n", failures);
        return 1;
    }
    return rc;
}
