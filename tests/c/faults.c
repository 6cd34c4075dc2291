/*
 * Reliability tests of libtimrest from C, driven by tests/c/faults.rs (part of tests/c_abi.rs):
 * one case per run, named by argv[1].
 *
 *   matrix        one deletion against a scripted fault (a row of tests/faults.json); checks the
 *                 status, code, HTTP status, attempts and retryable flag, that the call returned
 *                 within the deadline plus a slack, and that the message holds no secret.
 *                 Env: TEST_MAX_RETRIES, TEST_TIMEOUT_MS, TEST_CONNECT_TIMEOUT_MS, TEST_DEADLINE_MS,
 *                 TEST_SLACK_MS, TEST_EXPECT (status name), TEST_EXPECT_CODE, TEST_EXPECT_HTTP,
 *                 TEST_EXPECT_ATTEMPTS, TEST_EXPECT_RETRYABLE (0/1).
 *                 Prints `random=N attempts=N elapsed_ms=N`.
 *   bad_inputs    NULL pointers, invalid UTF-8, empty, control characters, over-long IDs and absurd
 *                 settings: each refused with its status and a message naming the field, before
 *                 anything is sent. Prints `bad_inputs=N`.
 *   concurrency   TEST_THREADS threads × TEST_CALLS deletions on one client (rate limit TEST_RATE
 *                 per second) while the driver injects faults at random; prints the tally:
 *                 `calls=N attempts=N ok=N <status>=N ...`.
 *
 * Common env: TIM_BASE_URL, TIM_SDKAPPID, TIM_SECRET_KEY (a canary: it must never show in a
 * message), TEST_GROUP. Exit status 0: every check passed; 1: a check failed (reason on stderr).
 *
 * C99, compiled with -Wall -Wextra -Werror -pedantic.
 */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <timrest.h>

static int failures = 0;
static pthread_mutex_t report_lock = PTHREAD_MUTEX_INITIALIZER;

#define CHECK(cond)                                                                    \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            pthread_mutex_lock(&report_lock);                                          \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);   \
            failures++;                                                                \
            pthread_mutex_unlock(&report_lock);                                        \
        }                                                                              \
    } while (0)

static const char *env_required(const char *name) {
    const char *value = getenv(name);
    if (value == NULL || value[0] == '\0') {
        fprintf(stderr, "environment variable %s is required\n", name);
        exit(2);
    }
    return value;
}

static long long env_number(const char *name, long long fallback) {
    const char *value = getenv(name);
    return (value != NULL && value[0] != '\0') ? strtoll(value, NULL, 10) : fallback;
}

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The message of an error never holds the secret key. */
static void check_no_secret(const timrest_error *err) {
    const char *message = timrest_error_message(err);
    CHECK(message != NULL);
    if (message != NULL) {
        CHECK(strstr(message, env_required("TIM_SECRET_KEY")) == NULL);
        CHECK(strstr(message, "eJ") == NULL);
        /* No control character either: a hostile ErrorInfo is escaped (no forged log lines). */
        for (const char *c = message; *c != '\0'; c++) {
            CHECK((unsigned char)*c >= 0x20 && *c != 0x7f);
        }
    }
}

/* A config for the emulator, with the timing settings of the environment. */
static timrest_config *make_config(void) {
    timrest_config *config = NULL;
    CHECK(timrest_config_new(&config) == TIMREST_OK);
    if (config == NULL) {
        exit(1);
    }
    CHECK(timrest_config_set_sdkappid(config, (uint64_t)env_number("TIM_SDKAPPID", 0)) == TIMREST_OK);
    CHECK(timrest_config_set_base_url(config, env_required("TIM_BASE_URL")) == TIMREST_OK);
    CHECK(timrest_config_set_secret_key(config, env_required("TIM_SECRET_KEY")) == TIMREST_OK);
    CHECK(timrest_config_set_max_retries(config, (uint32_t)env_number("TEST_MAX_RETRIES", 3)) == TIMREST_OK);
    CHECK(timrest_config_set_timeout_ms(config, (uint64_t)env_number("TEST_TIMEOUT_MS", 10000)) == TIMREST_OK);
    CHECK(timrest_config_set_connect_timeout_ms(config, (uint64_t)env_number("TEST_CONNECT_TIMEOUT_MS", 5000)) ==
          TIMREST_OK);
    CHECK(timrest_config_set_deadline_ms(config, (uint64_t)env_number("TEST_DEADLINE_MS", 60000)) == TIMREST_OK);
    if (getenv("TEST_RATE") != NULL) {
        CHECK(timrest_config_set_rate_limit(config, (double)env_number("TEST_RATE", 100)) == TIMREST_OK);
    } else {
        CHECK(timrest_config_set_no_rate_limit(config) == TIMREST_OK);
    }
    return config;
}

static timrest_client *make_client(void) {
    timrest_config *config = make_config();
    timrest_client *client = NULL;
    timrest_error *err = NULL;
    timrest_status status = timrest_client_new(config, &client, &err);
    timrest_config_free(config);
    if (status != TIMREST_OK) {
        fprintf(stderr, "timrest_client_new: %s\n", timrest_error_message(err));
        timrest_error_free(err);
        exit(1);
    }
    return client;
}

/* ---------------------------------------------------------------------------------------------- */

static void case_matrix(void) {
    timrest_client *client = make_client();
    timrest_error *err = NULL;
    const char *expect = env_required("TEST_EXPECT");
    long long deadline = env_number("TEST_DEADLINE_MS", 60000);
    long long slack = env_number("TEST_SLACK_MS", 10000);
    long long started = now_ms();
    timrest_status status = timrest_delete_group_msg_by_sender(client, env_required("TEST_GROUP"), "spammer", NULL, &err);
    long long elapsed = now_ms() - started;

    if (strcmp(timrest_status_name(status), expect) != 0) {
        fprintf(stderr, "status %s, expected %s: %s\n", timrest_status_name(status), expect, timrest_error_message(err));
        failures++;
    }
    CHECK(status != TIMREST_OK);
    CHECK(err != NULL);
    CHECK(timrest_error_status(err) == status);
    CHECK(timrest_error_code(err) == env_number("TEST_EXPECT_CODE", 0));
    CHECK(timrest_error_http_status(err) == env_number("TEST_EXPECT_HTTP", 0));
    CHECK(timrest_error_attempts(err) == (uint32_t)env_number("TEST_EXPECT_ATTEMPTS", 1));
    CHECK(timrest_error_retryable(err) == (env_number("TEST_EXPECT_RETRYABLE", 0) != 0));
    CHECK(timrest_error_random(err) >= 0);
    CHECK(strlen(timrest_error_message(err)) > 0);
    CHECK(elapsed <= deadline + slack);
    check_no_secret(err);
    if (timrest_error_attempts(err) != (uint32_t)env_number("TEST_EXPECT_ATTEMPTS", 1)) {
        fprintf(stderr, "attempts %u: %s\n", timrest_error_attempts(err), timrest_error_message(err));
    }
    printf("random=%lld attempts=%u elapsed_ms=%lld\n", (long long)timrest_error_random(err),
           timrest_error_attempts(err), elapsed);
    timrest_error_free(err);
    timrest_client_free(client);
}

/* ---------------------------------------------------------------------------------------------- */

static int bad_inputs = 0;

/* One refused deletion: `expected` status, a message holding `word`, nothing sent. */
static void refused_delete(const timrest_client *client, const char *group, const char *sender, const char *topic,
                           timrest_status expected, const char *word) {
    timrest_error *err = NULL;
    timrest_status status = timrest_delete_group_msg_by_sender(client, group, sender, topic, &err);
    if (status != expected) {
        fprintf(stderr, "delete(%s, %s, %s): %s, expected %s\n", group ? group : "NULL", sender ? sender : "NULL",
                topic ? topic : "NULL", timrest_status_name(status), timrest_status_name(expected));
        failures++;
    }
    CHECK(timrest_error_attempts(err) == 0);
    CHECK(timrest_error_random(err) == -1);
    CHECK(!timrest_error_retryable(err));
    if (strstr(timrest_error_message(err), word) == NULL) {
        fprintf(stderr, "message does not name %s: %s\n", word, timrest_error_message(err));
        failures++;
    }
    check_no_secret(err);
    timrest_error_free(err);
    /* Without an error object too. */
    CHECK(timrest_delete_group_msg_by_sender(client, group, sender, topic, NULL) == expected);
    bad_inputs++;
}

/* A config that one bad setting spoils: refused by the setter or by timrest_client_new. */
typedef timrest_status (*spoil_fn)(timrest_config *config);

static timrest_status spoil_rate_zero(timrest_config *c) { return timrest_config_set_rate_limit(c, 0.0); }
static timrest_status spoil_rate_negative(timrest_config *c) { return timrest_config_set_rate_limit(c, -5.0); }
static timrest_status spoil_rate_nan(timrest_config *c) { return timrest_config_set_rate_limit(c, (double)NAN); }
static timrest_status spoil_rate_inf(timrest_config *c) { return timrest_config_set_rate_limit(c, (double)INFINITY); }
static timrest_status spoil_timeout(timrest_config *c) { return timrest_config_set_timeout_ms(c, 0); }
static timrest_status spoil_connect(timrest_config *c) { return timrest_config_set_connect_timeout_ms(c, 0); }
static timrest_status spoil_deadline(timrest_config *c) { return timrest_config_set_deadline_ms(c, 0); }
static timrest_status spoil_ttl(timrest_config *c) { return timrest_config_set_usersig_ttl_secs(c, 5); }
static timrest_status spoil_sdkappid(timrest_config *c) { return timrest_config_set_sdkappid(c, 0); }
static timrest_status spoil_identifier(timrest_config *c) { return timrest_config_set_identifier(c, "adm\tin"); }
static timrest_status spoil_identifier_long(timrest_config *c) {
    return timrest_config_set_identifier(c, "an-identifier-longer-than-32-bytes-in-all");
}
static timrest_status spoil_key(timrest_config *c) { return timrest_config_set_secret_key(c, ""); }
static timrest_status spoil_both(timrest_config *c) { return timrest_config_set_usersig(c, "eJyrVgrx"); }
static timrest_status spoil_http(timrest_config *c) { return timrest_config_set_base_url(c, "http://example.com"); }
static timrest_status spoil_region(timrest_config *c) { return timrest_config_set_region(c, "mars"); }
static timrest_status spoil_ca(timrest_config *c) {
    static const uint8_t pem[] = "not a certificate";
    return timrest_config_set_ca_pem(c, pem, sizeof pem - 1);
}

static void refused_config(spoil_fn spoil, const char *word) {
    timrest_config *config = make_config();
    timrest_client *client = NULL;
    timrest_error *err = NULL;
    timrest_status set = spoil(config);
    if (set == TIMREST_OK) {
        timrest_status status = timrest_client_new(config, &client, &err);
        if (status != TIMREST_CONFIG) {
            fprintf(stderr, "client_new with a bad %s: %s\n", word, timrest_status_name(status));
            failures++;
        }
        CHECK(client == NULL);
        if (strstr(timrest_error_message(err), word) == NULL) {
            fprintf(stderr, "message does not name %s: %s\n", word, timrest_error_message(err));
            failures++;
        }
        check_no_secret(err);
        timrest_error_free(err);
    } else {
        /* Refused by the setter itself. */
        CHECK(set == TIMREST_CONFIG || set == TIMREST_INVALID_ARGUMENT);
    }
    timrest_client_free(client);
    timrest_config_free(config);
    bad_inputs++;
}

static void case_bad_inputs(void) {
    timrest_client *client = make_client();
    const char *group = env_required("TEST_GROUP");
    char long_group[60];
    char long_sender[40];
    char long_topic[200];
    const char *controls[] = {"\t", "\n", "\r", "\x01", "\x1b[31m", "\x7f", "\xc2\x85" /* U+0085 */};
    size_t i;

    memset(long_group, 'g', sizeof long_group - 1);
    long_group[49] = '\0';
    memset(long_sender, 's', sizeof long_sender - 1);
    long_sender[33] = '\0';
    snprintf(long_topic, sizeof long_topic, "%s@TOPIC#_", group);
    memset(long_topic + strlen(long_topic), 't', sizeof long_topic - 1 - strlen(long_topic));
    long_topic[sizeof long_topic - 1] = '\0';

    /* NULL pointers. */
    refused_delete(NULL, group, "s", NULL, TIMREST_NULL_ARGUMENT, "client");
    refused_delete(client, NULL, "s", NULL, TIMREST_NULL_ARGUMENT, "group_id");
    refused_delete(client, group, NULL, NULL, TIMREST_NULL_ARGUMENT, "sender");
    /* Invalid UTF-8 in each argument: a lone continuation byte, a cut sequence, an overlong form. */
    refused_delete(client, "@TGS#\x80", "s", NULL, TIMREST_INVALID_UTF8, "group_id");
    refused_delete(client, group, "le\xc3", NULL, TIMREST_INVALID_UTF8, "sender");
    refused_delete(client, group, "\xc0\xaf", NULL, TIMREST_INVALID_UTF8, "sender");
    refused_delete(client, group, "s", "\xed\xa0\x80", TIMREST_INVALID_UTF8, "topic_id");
    /* Empty, too long. */
    refused_delete(client, "", "s", NULL, TIMREST_INVALID_ARGUMENT, "group_id");
    refused_delete(client, group, "", NULL, TIMREST_INVALID_ARGUMENT, "sender");
    refused_delete(client, group, "s", "", TIMREST_INVALID_ARGUMENT, "topic_id");
    refused_delete(client, long_group, "s", NULL, TIMREST_INVALID_ARGUMENT, "group_id");
    refused_delete(client, group, long_sender, NULL, TIMREST_INVALID_ARGUMENT, "sender");
    refused_delete(client, group, "s", long_topic, TIMREST_INVALID_ARGUMENT, "topic_id");
    refused_delete(client, group, "s", "@TGS#other@TOPIC#_x", TIMREST_INVALID_ARGUMENT, "topic_id");
    /* Control characters, in the group and in the sender. */
    for (i = 0; i < sizeof controls / sizeof controls[0]; i++) {
        char with[64];
        snprintf(with, sizeof with, "ab%scd", controls[i]);
        refused_delete(client, with, "s", NULL, TIMREST_INVALID_ARGUMENT, "group_id");
        refused_delete(client, group, with, NULL, TIMREST_INVALID_ARGUMENT, "sender");
    }
    timrest_client_free(client);

    /* Absurd settings. */
    refused_config(spoil_rate_zero, "rate_limit");
    refused_config(spoil_rate_negative, "rate_limit");
    refused_config(spoil_rate_nan, "rate_limit");
    refused_config(spoil_rate_inf, "rate_limit");
    refused_config(spoil_timeout, "timeout");
    refused_config(spoil_connect, "connect_timeout");
    refused_config(spoil_deadline, "deadline");
    refused_config(spoil_ttl, "usersig_ttl");
    refused_config(spoil_sdkappid, "sdkappid");
    refused_config(spoil_identifier, "identifier");
    refused_config(spoil_identifier_long, "identifier");
    refused_config(spoil_key, "secret_key");
    refused_config(spoil_both, "usersig");
    refused_config(spoil_http, "loopback");
    refused_config(spoil_region, "region");
    refused_config(spoil_ca, "ca_pem");
    printf("bad_inputs=%d\n", bad_inputs);
}

/* ---------------------------------------------------------------------------------------------- */

#define MAX_THREADS 64
#define STATUS_SLOTS 400

struct tally {
    const timrest_client *client;
    const char *group;
    int thread;
    long calls;
    long attempts;
    long by_status[STATUS_SLOTS];
};

static void *run_calls(void *arg) {
    struct tally *t = arg;
    long n = (long)env_number("TEST_CALLS", 200);
    long i;
    for (i = 0; i < n; i++) {
        char sender[32];
        timrest_error *err = NULL;
        timrest_status status;
        snprintf(sender, sizeof sender, "t%d_s%ld", t->thread, i % 5);
        status = timrest_delete_group_msg_by_sender(t->client, t->group, sender, NULL, &err);
        t->calls++;
        t->by_status[(unsigned)status < STATUS_SLOTS ? (unsigned)status : STATUS_SLOTS - 1]++;
        if (status == TIMREST_OK) {
            CHECK(err == NULL);
            /* A success took at least one attempt; the tally of attempts of successes comes from
               the driver's log (ok calls do not report theirs through the C ABI). */
        } else {
            CHECK(timrest_error_status(err) == status);
            CHECK(timrest_error_attempts(err) >= 1);
            t->attempts += timrest_error_attempts(err);
            check_no_secret(err);
        }
        timrest_error_free(err);
    }
    return NULL;
}

static void case_concurrency(void) {
    timrest_client *client = make_client();
    int threads = (int)env_number("TEST_THREADS", 16);
    pthread_t ids[MAX_THREADS];
    static struct tally tallies[MAX_THREADS];
    long calls = 0, failed_attempts = 0, by_status[STATUS_SLOTS] = {0};
    int i;
    unsigned s;
    if (threads < 1 || threads > MAX_THREADS) {
        fprintf(stderr, "TEST_THREADS out of range\n");
        exit(2);
    }
    for (i = 0; i < threads; i++) {
        tallies[i].client = client;
        tallies[i].group = env_required("TEST_GROUP");
        tallies[i].thread = i;
        CHECK(pthread_create(&ids[i], NULL, run_calls, &tallies[i]) == 0);
    }
    for (i = 0; i < threads; i++) {
        CHECK(pthread_join(ids[i], NULL) == 0);
        calls += tallies[i].calls;
        failed_attempts += tallies[i].attempts;
        for (s = 0; s < STATUS_SLOTS; s++) {
            by_status[s] += tallies[i].by_status[s];
        }
    }
    timrest_client_free(client);
    printf("calls=%ld failed_attempts=%ld", calls, failed_attempts);
    for (s = 0; s < STATUS_SLOTS; s++) {
        if (by_status[s] > 0) {
            printf(" %s=%ld", timrest_status_name(s), by_status[s]);
        }
    }
    printf("\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s matrix|bad_inputs|concurrency\n", argv[0]);
        return 2;
    }
    if (strcmp(argv[1], "matrix") == 0) {
        case_matrix();
    } else if (strcmp(argv[1], "bad_inputs") == 0) {
        case_bad_inputs();
    } else if (strcmp(argv[1], "concurrency") == 0) {
        case_concurrency();
    } else {
        fprintf(stderr, "unknown case %s\n", argv[1]);
        return 2;
    }
    if (failures > 0) {
        fprintf(stderr, "%s: %d check(s) failed\n", argv[1], failures);
        return 1;
    }
    printf("%s: ok\n", argv[1]);
    return 0;
}
