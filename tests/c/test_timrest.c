/*
 * C tests of libtimrest, driven by tests/c_abi.rs: one case per run, named by argv[1].
 *
 * The driver starts the emulator, seeds groups, scripts faults, runs this program (natively and
 * under valgrind) and then checks the emulator's history and request log. What a case expects
 * comes from the environment:
 *
 *   TIM_BASE_URL, TIM_SDKAPPID, TIM_SECRET_KEY   the emulator and its credentials
 *   TEST_GROUP, TEST_SENDER, TEST_TOPIC          the arguments of the deletion
 *   TEST_IDENTIFIER, TEST_MAX_RETRIES, TEST_TIMEOUT_MS, TEST_USERSIG_AGE   client settings
 *   TEST_EXPECT          the expected status name ("ok", "group_not_found" ...)
 *   TEST_EXPECT_CODE, TEST_EXPECT_HTTP, TEST_EXPECT_ATTEMPTS   expected error fields
 *
 * Prints `random=N attempts=N` for failed calls, which the driver compares with the request log.
 * Exit status 0: every check passed; 1: a check failed (the reason is on stderr).
 *
 * C99, compiled with -Wall -Wextra -Werror -pedantic.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <timrest.h>

static int failures = 0;

#define CHECK(cond)                                                                \
    do {                                                                           \
        if (!(cond)) {                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                            \
        }                                                                          \
    } while (0)

#define CHECK_STATUS(call, expected)                                                     \
    do {                                                                                 \
        timrest_status got_ = (call);                                                    \
        if (got_ != (expected)) {                                                        \
            fprintf(stderr, "%s:%d: %s gave %s, expected %s\n", __FILE__, __LINE__, #call, \
                    timrest_status_name(got_), timrest_status_name(expected));           \
            failures++;                                                                  \
        }                                                                                \
    } while (0)

static const char *env_or(const char *name, const char *fallback) {
    const char *value = getenv(name);
    return (value != NULL && value[0] != '\0') ? value : fallback;
}

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

/* The status whose name is `name` (searching the stable values), or -1. */
static long status_by_name(const char *name) {
    uint32_t value;
    for (value = 0; value < 1000; value++) {
        if (strcmp(timrest_status_name(value), name) == 0) {
            return (long)value;
        }
    }
    return -1;
}

/* Builds a config for the emulator from the environment, with the test's overrides. */
static timrest_config *test_config(void) {
    timrest_config *config = NULL;
    CHECK_STATUS(timrest_config_new(&config), TIMREST_OK);
    if (config == NULL) {
        exit(1);
    }
    CHECK_STATUS(timrest_config_set_sdkappid(config, (uint64_t)env_number("TIM_SDKAPPID", 0)), TIMREST_OK);
    CHECK_STATUS(timrest_config_set_base_url(config, env_required("TIM_BASE_URL")), TIMREST_OK);
    CHECK_STATUS(timrest_config_set_identifier(config, env_or("TEST_IDENTIFIER", "administrator")), TIMREST_OK);
    CHECK_STATUS(timrest_config_set_max_retries(config, (uint32_t)env_number("TEST_MAX_RETRIES", 3)), TIMREST_OK);
    CHECK_STATUS(timrest_config_set_timeout_ms(config, (uint64_t)env_number("TEST_TIMEOUT_MS", 10000)), TIMREST_OK);
    CHECK_STATUS(timrest_config_set_deadline_ms(config, 60000), TIMREST_OK);
    CHECK_STATUS(timrest_config_set_rate_limit(config, 50.0), TIMREST_OK);
    if (getenv("TEST_USERSIG_AGE") != NULL) {
        /* Authenticate with a ready UserSig signed TEST_USERSIG_AGE seconds ago, valid 300 s. */
        char usersig[TIMREST_USERSIG_MAX_LEN];
        uint64_t now = (uint64_t)time(NULL);
        uint64_t age = (uint64_t)env_number("TEST_USERSIG_AGE", 0);
        CHECK_STATUS(timrest_gen_usersig_at((uint64_t)env_number("TIM_SDKAPPID", 0), env_required("TIM_SECRET_KEY"),
                                            env_or("TEST_IDENTIFIER", "administrator"), 300, now - age, usersig,
                                            sizeof usersig, NULL, NULL),
                     TIMREST_OK);
        CHECK_STATUS(timrest_config_set_usersig(config, usersig), TIMREST_OK);
    } else {
        CHECK_STATUS(timrest_config_set_secret_key(config, env_required("TIM_SECRET_KEY")), TIMREST_OK);
    }
    return config;
}

static timrest_client *test_client(void) {
    timrest_config *config = test_config();
    timrest_client *client = NULL;
    timrest_error *err = NULL;
    timrest_status status = timrest_client_new(config, &client, &err);
    timrest_config_free(config);
    if (status != TIMREST_OK) {
        fprintf(stderr, "timrest_client_new: %s\n", timrest_error_message(err));
        timrest_error_free(err);
        exit(1);
    }
    CHECK(err == NULL);
    return client;
}

/* Whether a failure of this status may succeed later (the table in design §3). */
static int expected_retryable(timrest_status status) {
    switch (status) {
    case TIMREST_TRANSPORT:
    case TIMREST_TIMEOUT:
    case TIMREST_SERVER:
    case TIMREST_RATE_LIMITED:
    case TIMREST_USERSIG_EXPIRED:
        return 1;
    default:
        return 0;
    }
}

/* Case `delete`: one deletion; its status and error fields are what TEST_EXPECT* say. */
static void case_delete(void) {
    timrest_client *client = test_client();
    const char *expect_name = env_or("TEST_EXPECT", "ok");
    long expected = status_by_name(expect_name);
    timrest_error *err = NULL;
    timrest_status status;

    CHECK(expected >= 0);
    status = timrest_delete_group_msg_by_sender(client, env_required("TEST_GROUP"), env_required("TEST_SENDER"),
                                                getenv("TEST_TOPIC"), &err);
    if ((long)status != expected) {
        fprintf(stderr, "deletion gave %s (%s), expected %s\n", timrest_status_name(status),
                err != NULL ? timrest_error_message(err) : "no detail", expect_name);
        failures++;
    }
    if (status == TIMREST_OK) {
        CHECK(err == NULL); /* untouched on success */
    } else {
        const char *message = timrest_error_message(err);
        long long code = env_number("TEST_EXPECT_CODE", 0);
        CHECK(err != NULL);
        CHECK(timrest_error_status(err) == status);
        CHECK(timrest_error_code(err) == code);
        CHECK(timrest_error_http_status(err) == (uint16_t)env_number("TEST_EXPECT_HTTP", 0));
        CHECK(timrest_error_retryable(err) == (expected_retryable(status) != 0));
        CHECK(message != NULL && strlen(message) > 0);
        CHECK(strstr(message, env_required("TIM_SECRET_KEY")) == NULL);
        CHECK(strstr(message, timrest_status_name(status)) != NULL);
        if (code != 0) {
            char code_text[32];
            snprintf(code_text, sizeof code_text, "%lld", code);
            CHECK(strstr(message, code_text) != NULL);
        }
        if (getenv("TEST_EXPECT_ATTEMPTS") != NULL) {
            CHECK(timrest_error_attempts(err) == (uint32_t)env_number("TEST_EXPECT_ATTEMPTS", 0));
        }
        if (timrest_error_attempts(err) > 0) {
            CHECK(timrest_error_random(err) >= 0 && timrest_error_random(err) <= 4294967295LL);
        } else {
            CHECK(timrest_error_random(err) == -1);
        }
        printf("random=%lld attempts=%u\n", (long long)timrest_error_random(err), timrest_error_attempts(err));
        printf("message=%s\n", message);
        timrest_error_free(err);
    }
    timrest_client_free(client);
}

/* Case `from_env`: timrest_client_from_env reads TIM_* and the deletion succeeds. */
static void case_from_env(void) {
    timrest_client *client = NULL;
    timrest_config *config = NULL;
    timrest_error *err = NULL;
    CHECK_STATUS(timrest_client_from_env(&client, &err), TIMREST_OK);
    CHECK(client != NULL && err == NULL);
    CHECK_STATUS(timrest_delete_group_msg_by_sender(client, env_required("TEST_GROUP"), env_required("TEST_SENDER"),
                                                    NULL, &err),
                 TIMREST_OK);
    timrest_client_free(client);
    /* The config flavour: environment first, then an override. */
    CHECK_STATUS(timrest_config_from_env(&config, &err), TIMREST_OK);
    CHECK_STATUS(timrest_config_set_no_rate_limit(config), TIMREST_OK);
    CHECK_STATUS(timrest_client_new(config, &client, &err), TIMREST_OK);
    timrest_config_free(config);
    CHECK(err == NULL);
    timrest_client_free(client);
}

/* Case `version`: the library and the header agree, and status names are stable. */
static void case_version(void) {
    char expected[64];
    snprintf(expected, sizeof expected, "%d.%d.%d", TIMREST_VERSION_MAJOR, TIMREST_VERSION_MINOR,
             TIMREST_VERSION_PATCH);
    CHECK(strcmp(timrest_version(), TIMREST_VERSION) == 0);
    CHECK(strcmp(TIMREST_VERSION, expected) == 0);
    CHECK(strcmp(timrest_version(), env_required("TEST_CARGO_VERSION")) == 0);
    CHECK(TIMREST_OK == 0);
    CHECK(strcmp(timrest_status_name(TIMREST_OK), "ok") == 0);
    CHECK(strcmp(timrest_status_name(TIMREST_GROUP_NOT_FOUND), "group_not_found") == 0);
    CHECK(strcmp(timrest_status_name(TIMREST_NULL_ARGUMENT), "null_argument") == 0);
    CHECK(strcmp(timrest_status_name(104), "unknown") == 0);
    CHECK(strcmp(timrest_status_name(0xFFFFFFFFu), "unknown") == 0);
    printf("version=%s\n", timrest_version());
}

/* Case `null_arguments`: NULL where a pointer is required gives a status, never a crash. */
static void case_null_arguments(void) {
    timrest_client *client = test_client();
    timrest_config *config = NULL;
    timrest_client *no_client = NULL;
    timrest_error *err = NULL;
    char buf[TIMREST_USERSIG_MAX_LEN];
    const char *key = env_required("TIM_SECRET_KEY");

    CHECK_STATUS(timrest_delete_group_msg_by_sender(NULL, "@TGS#1", "leckie", NULL, &err), TIMREST_NULL_ARGUMENT);
    CHECK(timrest_error_status(err) == TIMREST_NULL_ARGUMENT);
    CHECK(strstr(timrest_error_message(err), "client") != NULL);
    CHECK(timrest_error_attempts(err) == 0 && timrest_error_random(err) == -1 && timrest_error_code(err) == 0);
    CHECK(!timrest_error_retryable(err));
    timrest_error_free(err);
    err = NULL;
    CHECK_STATUS(timrest_delete_group_msg_by_sender(client, NULL, "leckie", NULL, &err), TIMREST_NULL_ARGUMENT);
    CHECK(strstr(timrest_error_message(err), "group_id") != NULL);
    timrest_error_free(err);
    err = NULL;
    CHECK_STATUS(timrest_delete_group_msg_by_sender(client, "@TGS#1", NULL, NULL, NULL), TIMREST_NULL_ARGUMENT);

    CHECK_STATUS(timrest_config_new(NULL), TIMREST_NULL_ARGUMENT);
    CHECK_STATUS(timrest_config_from_env(NULL, NULL), TIMREST_NULL_ARGUMENT);
    CHECK_STATUS(timrest_config_set_sdkappid(NULL, 1), TIMREST_NULL_ARGUMENT);
    CHECK_STATUS(timrest_config_set_secret_key(NULL, key), TIMREST_NULL_ARGUMENT);
    CHECK_STATUS(timrest_config_set_max_retries(NULL, 1), TIMREST_NULL_ARGUMENT);
    CHECK_STATUS(timrest_config_set_rate_limit(NULL, 1.0), TIMREST_NULL_ARGUMENT);
    CHECK_STATUS(timrest_config_set_no_rate_limit(NULL), TIMREST_NULL_ARGUMENT);
    CHECK_STATUS(timrest_config_new(&config), TIMREST_OK);
    CHECK_STATUS(timrest_config_set_secret_key(config, NULL), TIMREST_NULL_ARGUMENT);
    CHECK_STATUS(timrest_config_set_usersig(config, NULL), TIMREST_NULL_ARGUMENT);
    CHECK_STATUS(timrest_config_set_identifier(config, NULL), TIMREST_NULL_ARGUMENT);
    CHECK_STATUS(timrest_config_set_region(config, NULL), TIMREST_NULL_ARGUMENT);
    CHECK_STATUS(timrest_config_set_base_url(config, NULL), TIMREST_NULL_ARGUMENT);
    CHECK_STATUS(timrest_config_set_proxy(config, NULL), TIMREST_NULL_ARGUMENT);
    CHECK_STATUS(timrest_config_set_ca_pem(config, NULL, 10), TIMREST_NULL_ARGUMENT);
    CHECK_STATUS(timrest_client_new(NULL, &no_client, &err), TIMREST_NULL_ARGUMENT);
    CHECK(no_client == NULL);
    timrest_error_free(err);
    err = NULL;
    CHECK_STATUS(timrest_client_new(config, NULL, NULL), TIMREST_NULL_ARGUMENT);
    CHECK_STATUS(timrest_client_from_env(NULL, NULL), TIMREST_NULL_ARGUMENT);
    timrest_config_free(config);

    CHECK_STATUS(timrest_gen_usersig(1400000000, NULL, "administrator", 60, buf, sizeof buf, NULL, NULL),
                 TIMREST_NULL_ARGUMENT);
    CHECK_STATUS(timrest_gen_usersig(1400000000, key, NULL, 60, buf, sizeof buf, NULL, NULL), TIMREST_NULL_ARGUMENT);
    CHECK_STATUS(timrest_gen_usersig(1400000000, key, "administrator", 60, NULL, 512, NULL, NULL),
                 TIMREST_NULL_ARGUMENT);

    /* Accessors of a NULL error object, and _free(NULL) of every type. */
    CHECK(timrest_error_status(NULL) == TIMREST_NULL_ARGUMENT);
    CHECK(timrest_error_code(NULL) == 0);
    CHECK(timrest_error_message(NULL) != NULL && timrest_error_message(NULL)[0] == '\0');
    CHECK(timrest_error_random(NULL) == -1);
    CHECK(timrest_error_attempts(NULL) == 0);
    CHECK(timrest_error_http_status(NULL) == 0);
    CHECK(!timrest_error_retryable(NULL));
    timrest_error_free(NULL);
    timrest_config_free(NULL);
    timrest_client_free(NULL);
    timrest_client_free(client);
}

/* Case `invalid_utf8`: bytes that are not UTF-8 give TIMREST_INVALID_UTF8, nothing is sent. */
static void case_invalid_utf8(void) {
    timrest_client *client = test_client();
    timrest_config *config = NULL;
    timrest_error *err = NULL;
    char buf[TIMREST_USERSIG_MAX_LEN];
    const char *bad = "le\xff\xfe" "ckie";

    CHECK_STATUS(timrest_delete_group_msg_by_sender(client, env_required("TEST_GROUP"), bad, NULL, &err),
                 TIMREST_INVALID_UTF8);
    CHECK(timrest_error_status(err) == TIMREST_INVALID_UTF8);
    CHECK(strstr(timrest_error_message(err), "sender") != NULL);
    CHECK(timrest_error_attempts(err) == 0);
    timrest_error_free(err);
    err = NULL;
    CHECK_STATUS(timrest_delete_group_msg_by_sender(client, "@TGS#\xc3", "leckie", NULL, NULL), TIMREST_INVALID_UTF8);
    CHECK_STATUS(timrest_delete_group_msg_by_sender(client, env_required("TEST_GROUP"), "leckie", "\x80", NULL),
                 TIMREST_INVALID_UTF8);
    CHECK_STATUS(timrest_config_new(&config), TIMREST_OK);
    CHECK_STATUS(timrest_config_set_secret_key(config, bad), TIMREST_INVALID_UTF8);
    CHECK_STATUS(timrest_config_set_identifier(config, bad), TIMREST_INVALID_UTF8);
    CHECK_STATUS(timrest_config_set_base_url(config, bad), TIMREST_INVALID_UTF8);
    CHECK_STATUS(timrest_config_set_region(config, bad), TIMREST_INVALID_UTF8);
    timrest_config_free(config);
    CHECK_STATUS(timrest_gen_usersig(1400000000, bad, "administrator", 60, buf, sizeof buf, NULL, &err),
                 TIMREST_INVALID_UTF8);
    CHECK(strstr(timrest_error_message(err), "secret_key") != NULL);
    timrest_error_free(err);
    timrest_client_free(client);
}

/* Case `invalid_argument`: bad IDs are refused before sending (the driver sees no request). */
static void case_invalid_argument(void) {
    timrest_client *client = test_client();
    const char *group = env_required("TEST_GROUP");
    const char *too_long = "a-sender-name-that-is-longer-than-32-bytes";
    const char *cases[][3] = {
        {"", "leckie", NULL},
        {NULL, "", NULL},
        {NULL, too_long, NULL},
        {NULL, "lec\tkie", NULL},
        {"@TGS#a-group-id-that-is-far-longer-than-48-bytes-allow", "leckie", NULL},
        {NULL, "leckie", "@TGS#other@TOPIC#_news"},
    };
    size_t i;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        timrest_error *err = NULL;
        const char *g = cases[i][0] != NULL ? cases[i][0] : group;
        CHECK_STATUS(timrest_delete_group_msg_by_sender(client, g, cases[i][1], cases[i][2], &err),
                     TIMREST_INVALID_ARGUMENT);
        CHECK(timrest_error_status(err) == TIMREST_INVALID_ARGUMENT);
        CHECK(timrest_error_attempts(err) == 0);
        CHECK(timrest_error_random(err) == -1);
        CHECK(timrest_error_code(err) == 0);
        CHECK(!timrest_error_retryable(err));
        timrest_error_free(err);
    }
    timrest_client_free(client);
}

/* Case `config`: bad settings give TIMREST_CONFIG with a reason, and no client. */
static void case_config(void) {
    timrest_config *config = NULL;
    timrest_client *client = NULL;
    timrest_error *err = NULL;

    /* No SDKAppID. */
    CHECK_STATUS(timrest_config_new(&config), TIMREST_OK);
    CHECK_STATUS(timrest_config_set_secret_key(config, env_required("TIM_SECRET_KEY")), TIMREST_OK);
    CHECK_STATUS(timrest_client_new(config, &client, &err), TIMREST_CONFIG);
    CHECK(client == NULL);
    CHECK(timrest_error_status(err) == TIMREST_CONFIG);
    CHECK(strstr(timrest_error_message(err), "sdkappid") != NULL);
    CHECK(strstr(timrest_error_message(err), env_required("TIM_SECRET_KEY")) == NULL);
    CHECK(timrest_error_attempts(err) == 0 && timrest_error_random(err) == -1);
    timrest_error_free(err);
    err = NULL;

    /* Plain http:// to a host that is not loopback. */
    CHECK_STATUS(timrest_config_set_sdkappid(config, 1400000000), TIMREST_OK);
    CHECK_STATUS(timrest_config_set_base_url(config, "http://example.com"), TIMREST_OK);
    CHECK_STATUS(timrest_client_new(config, &client, &err), TIMREST_CONFIG);
    CHECK(strstr(timrest_error_message(err), "loopback") != NULL);
    timrest_error_free(err);
    err = NULL;

    /* A port that is not 1 to 65535 (else the request, UserSig included, would go to port 80). */
    {
        const char *ports[3] = {"http://127.0.0.1:99999", "http://127.0.0.1:8080x", "http://127.0.0.1:-1"};
        size_t i;
        for (i = 0; i < 3; i++) {
            CHECK_STATUS(timrest_config_set_base_url(config, ports[i]), TIMREST_OK);
            CHECK_STATUS(timrest_client_new(config, &client, &err), TIMREST_CONFIG);
            CHECK(strstr(timrest_error_message(err), "1 to 65535") != NULL);
            timrest_error_free(err);
            err = NULL;
        }
    }

    /* A zero timeout; both a key and a UserSig; an unknown region (refused by the setter). */
    CHECK_STATUS(timrest_config_set_base_url(config, env_required("TIM_BASE_URL")), TIMREST_OK);
    CHECK_STATUS(timrest_config_set_timeout_ms(config, 0), TIMREST_OK);
    CHECK_STATUS(timrest_client_new(config, &client, NULL), TIMREST_CONFIG);
    CHECK_STATUS(timrest_config_set_timeout_ms(config, 1000), TIMREST_OK);
    CHECK_STATUS(timrest_config_set_rate_limit(config, -5.0), TIMREST_OK);
    CHECK_STATUS(timrest_client_new(config, &client, NULL), TIMREST_CONFIG);
    /* 0 allows nothing: refused, and the message names the call that turns the limiter off. */
    CHECK_STATUS(timrest_config_set_rate_limit(config, 0.0), TIMREST_OK);
    CHECK_STATUS(timrest_client_new(config, &client, &err), TIMREST_CONFIG);
    CHECK(strstr(timrest_error_message(err), "timrest_config_set_no_rate_limit") != NULL);
    timrest_error_free(err);
    err = NULL;
    CHECK_STATUS(timrest_config_set_rate_limit(config, 10.0), TIMREST_OK);
    CHECK_STATUS(timrest_config_set_usersig(config, "not-a-usersig"), TIMREST_OK);
    CHECK_STATUS(timrest_client_new(config, &client, NULL), TIMREST_CONFIG);
    CHECK_STATUS(timrest_config_set_region(config, "mars"), TIMREST_CONFIG);
    CHECK_STATUS(timrest_config_set_region(config, "Silicon_Valley"), TIMREST_OK);
    CHECK(client == NULL);
    timrest_config_free(config);
}

/* Case `usersig`: generation into a caller's buffer, and a client authenticated with it. */
static void case_usersig(void) {
    const char *key = env_required("TIM_SECRET_KEY");
    uint64_t sdkappid = (uint64_t)env_number("TIM_SDKAPPID", 0);
    char buf[TIMREST_USERSIG_MAX_LEN];
    char small[16];
    char again[TIMREST_USERSIG_MAX_LEN];
    size_t len = 12345;
    size_t len_again = 0;
    timrest_error *err = NULL;
    timrest_config *config = NULL;
    timrest_client *client = NULL;

    CHECK_STATUS(timrest_gen_usersig(sdkappid, key, "administrator", 3600, buf, sizeof buf, &len, &err), TIMREST_OK);
    CHECK(err == NULL);
    CHECK(len == strlen(buf) && len > 100 && len < TIMREST_USERSIG_MAX_LEN);

    /* Deterministic for a given time: the same bytes twice. */
    CHECK_STATUS(timrest_gen_usersig_at(sdkappid, key, "administrator", 86400, 1600000000, buf, sizeof buf, &len, NULL),
                 TIMREST_OK);
    CHECK_STATUS(timrest_gen_usersig_at(sdkappid, key, "administrator", 86400, 1600000000, again, sizeof again,
                                        &len_again, NULL),
                 TIMREST_OK);
    CHECK(len == len_again && strcmp(buf, again) == 0);

    /* Too small: refused, the buffer and the length untouched, the message says what is needed. */
    memset(small, 'x', sizeof small);
    len = 7;
    CHECK_STATUS(timrest_gen_usersig(sdkappid, key, "administrator", 3600, small, sizeof small, &len, &err),
                 TIMREST_BUFFER_TOO_SMALL);
    CHECK(len == 7);
    CHECK(small[0] == 'x' && small[sizeof small - 1] == 'x');
    CHECK(timrest_error_status(err) == TIMREST_BUFFER_TOO_SMALL);
    CHECK(strstr(timrest_error_message(err), "needs") != NULL);
    CHECK(strstr(timrest_error_message(err), key) == NULL);
    timrest_error_free(err);
    err = NULL;
    /* The exact size: the UserSig's length plus its NUL fits; one byte less does not. */
    CHECK_STATUS(timrest_gen_usersig_at(sdkappid, key, "administrator", 86400, 1600000000, buf, len_again, NULL, NULL),
                 TIMREST_BUFFER_TOO_SMALL);
    CHECK_STATUS(
        timrest_gen_usersig_at(sdkappid, key, "administrator", 86400, 1600000000, buf, len_again + 1, NULL, NULL),
        TIMREST_OK);
    CHECK(strcmp(buf, again) == 0);
    CHECK_STATUS(timrest_gen_usersig(0, key, "administrator", 3600, buf, sizeof buf, NULL, NULL),
                 TIMREST_INVALID_ARGUMENT);
    CHECK_STATUS(timrest_gen_usersig(sdkappid, key, "", 3600, buf, sizeof buf, NULL, NULL), TIMREST_INVALID_ARGUMENT);

    /* A fresh UserSig authenticates a client; the driver checks the deletion took effect. */
    CHECK_STATUS(timrest_gen_usersig(sdkappid, key, "administrator", 3600, buf, sizeof buf, NULL, NULL), TIMREST_OK);
    CHECK_STATUS(timrest_config_new(&config), TIMREST_OK);
    CHECK_STATUS(timrest_config_set_sdkappid(config, sdkappid), TIMREST_OK);
    CHECK_STATUS(timrest_config_set_usersig(config, buf), TIMREST_OK);
    CHECK_STATUS(timrest_config_set_base_url(config, env_required("TIM_BASE_URL")), TIMREST_OK);
    CHECK_STATUS(timrest_client_new(config, &client, &err), TIMREST_OK);
    timrest_config_free(config);
    CHECK_STATUS(timrest_delete_group_msg_by_sender(client, env_required("TEST_GROUP"), env_required("TEST_SENDER"),
                                                    NULL, &err),
                 TIMREST_OK);
    CHECK(err == NULL);
    timrest_client_free(client);
}

/* Case `threads`: 8 threads share one client; each deletes its own sender. */
#define THREADS 8

struct worker {
    const timrest_client *client;
    const char *group;
    char sender[32];
    timrest_status status;
};

static void *work(void *arg) {
    struct worker *w = (struct worker *)arg;
    int round;
    w->status = TIMREST_OK;
    /* Twice each: the second deletion finds nothing left and still succeeds. */
    for (round = 0; round < 2 && w->status == TIMREST_OK; round++) {
        timrest_error *err = NULL;
        w->status = timrest_delete_group_msg_by_sender(w->client, w->group, w->sender, NULL, &err);
        if (w->status != TIMREST_OK) {
            fprintf(stderr, "thread %s: %s\n", w->sender, timrest_error_message(err));
            timrest_error_free(err);
        }
    }
    return NULL;
}

static void case_threads(void) {
    timrest_client *client = test_client();
    pthread_t threads[THREADS];
    struct worker workers[THREADS];
    int i;
    for (i = 0; i < THREADS; i++) {
        workers[i].client = client;
        workers[i].group = env_required("TEST_GROUP");
        snprintf(workers[i].sender, sizeof workers[i].sender, "spammer%d", i);
        CHECK(pthread_create(&threads[i], NULL, work, &workers[i]) == 0);
    }
    for (i = 0; i < THREADS; i++) {
        CHECK(pthread_join(threads[i], NULL) == 0);
        CHECK_STATUS(workers[i].status, TIMREST_OK);
    }
    timrest_client_free(client);
}

int main(int argc, char **argv) {
    const char *name = argc > 1 ? argv[1] : "";
    if (strcmp(name, "delete") == 0) {
        case_delete();
    } else if (strcmp(name, "from_env") == 0) {
        case_from_env();
    } else if (strcmp(name, "version") == 0) {
        case_version();
    } else if (strcmp(name, "null_arguments") == 0) {
        case_null_arguments();
    } else if (strcmp(name, "invalid_utf8") == 0) {
        case_invalid_utf8();
    } else if (strcmp(name, "invalid_argument") == 0) {
        case_invalid_argument();
    } else if (strcmp(name, "config") == 0) {
        case_config();
    } else if (strcmp(name, "usersig") == 0) {
        case_usersig();
    } else if (strcmp(name, "threads") == 0) {
        case_threads();
    } else {
        fprintf(stderr, "usage: %s delete|from_env|version|null_arguments|invalid_utf8|invalid_argument|config|"
                        "usersig|threads\n",
                argv[0]);
        return 2;
    }
    if (failures > 0) {
        fprintf(stderr, "%s: %d check(s) failed\n", name, failures);
        return 1;
    }
    printf("%s: ok\n", name);
    return 0;
}
