/*
 * A fleet of C worker processes on one Redis limiter (tests/c_abi.rs runs it against the emulator
 * and a real redis-server).
 *
 *   fleet PROCESSES REDIS_URL GROUP...
 *
 * The parent forks PROCESSES children first; each child then creates its own client (after the
 * fork, as the README says) from the TIM_* environment, at 95 requests/s on REDIS_URL, and deletes
 * what "spammer" posted in its share of the groups (child i takes groups i, i + PROCESSES, ...).
 * Exit status 0 when every deletion succeeded in every child. Before forking, the parent checks the
 * new functions' argument handling (NULL, bad UTF-8, bad names), and makes one call itself.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <timrest.h>

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            return 1;                                                        \
        }                                                                    \
    } while (0)

static int check_arguments(const char *redis_url) {
    timrest_config *config = NULL;
    timrest_client *client = NULL;
    double rate = 0.0;
    CHECK(timrest_config_set_rate_limit_url(NULL, redis_url) == TIMREST_NULL_ARGUMENT);
    CHECK(timrest_config_set_rate_limit_fallback(NULL, "local") == TIMREST_NULL_ARGUMENT);
    CHECK(timrest_config_from_env(&config, NULL) == TIMREST_OK);
    CHECK(timrest_config_set_rate_limit_url(config, NULL) == TIMREST_NULL_ARGUMENT);
    CHECK(timrest_config_set_rate_limit_url(config, "redis://\xff") == TIMREST_INVALID_UTF8);
    CHECK(timrest_config_set_rate_limit_fallback(config, "maybe") == TIMREST_CONFIG);
    CHECK(timrest_config_set_rate_limit_clock(config, "sundial") == TIMREST_CONFIG);
    CHECK(timrest_config_set_rate_limit_prefix(config, NULL) == TIMREST_NULL_ARGUMENT);
    CHECK(timrest_config_set_rate_limit_fallback(config, "fail") == TIMREST_OK);
    CHECK(timrest_config_set_rate_limit_clock(config, "redis") == TIMREST_OK);
    CHECK(timrest_config_set_rate_limit_timeout_ms(config, 50) == TIMREST_OK);
    CHECK(timrest_config_set_rate_limit_adaptive(config, true) == TIMREST_OK);
    /* Out-of-range values are refused by timrest_client_new, and the config keeps working. */
    CHECK(timrest_config_set_rate_limit_fallback_fraction(config, 2.0) == TIMREST_OK);
    CHECK(timrest_config_set_rate_limit_url(config, redis_url) == TIMREST_OK);
    CHECK(timrest_client_new(config, &client, NULL) == TIMREST_CONFIG);
    CHECK(client == NULL);
    CHECK(timrest_config_set_rate_limit_fallback_fraction(config, 0.5) == TIMREST_OK);
    /* A rate too small to pace by is a settings error naming it, not a crash. */
    {
        timrest_error *err = NULL;
        CHECK(timrest_config_set_rate_limit(config, 1e-20) == TIMREST_OK);
        CHECK(timrest_client_new(config, &client, &err) == TIMREST_CONFIG);
        CHECK(strstr(timrest_error_message(err), "rate_limit") != NULL);
        timrest_error_free(err);
        CHECK(timrest_config_set_rate_limit(config, 100.0) == TIMREST_OK);
    }
    CHECK(timrest_client_new(config, &client, NULL) == TIMREST_OK);
    CHECK(timrest_client_effective_rate_limit(NULL, &rate) == TIMREST_NULL_ARGUMENT);
    CHECK(timrest_client_effective_rate_limit(client, NULL) == TIMREST_NULL_ARGUMENT);
    CHECK(timrest_client_effective_rate_limit(client, &rate) == TIMREST_OK);
    CHECK(rate == 100.0);
    timrest_client_free(client);
    /* A shared limiter that does not answer, with the `fail` fallback: TIMREST_LIMITER, nothing sent. */
    {
        timrest_error *err = NULL;
        CHECK(timrest_config_set_rate_limit_url(config, "redis://127.0.0.1:1/0") == TIMREST_OK);
        CHECK(timrest_config_set_rate_limit_fallback(config, "fail") == TIMREST_OK);
        CHECK(timrest_client_new(config, &client, NULL) == TIMREST_OK);
        CHECK(timrest_delete_group_msg_by_sender(client, "@TGS#limiter", "spammer", NULL, &err) == TIMREST_LIMITER);
        CHECK(timrest_error_status(err) == TIMREST_LIMITER);
        CHECK(strstr(timrest_error_message(err), "unavailable") != NULL);
        CHECK(timrest_error_attempts(err) == 0);
        timrest_error_free(err);
        timrest_client_free(client);
    }
    timrest_config_free(config);
    return 0;
}

static int worker(int index, int processes, const char *redis_url, int n_groups, char **groups) {
    timrest_config *config = NULL;
    timrest_client *client = NULL;
    timrest_error *err = NULL;
    double rate = 0.0;
    int failed = 0;

    if (timrest_config_from_env(&config, &err) != TIMREST_OK ||
        timrest_config_set_rate_limit(config, 95.0) != TIMREST_OK ||
        timrest_config_set_rate_limit_url(config, redis_url) != TIMREST_OK ||
        timrest_client_new(config, &client, &err) != TIMREST_OK) {
        fprintf(stderr, "worker %d: settings: %s\n", index, err ? timrest_error_message(err) : "?");
        timrest_error_free(err);
        timrest_config_free(config);
        return 1;
    }
    timrest_config_free(config);
    for (int g = index; g < n_groups; g += processes) {
        if (timrest_delete_group_msg_by_sender(client, groups[g], "spammer", NULL, &err) != TIMREST_OK) {
            fprintf(stderr, "worker %d: %s: %s\n", index, groups[g], timrest_error_message(err));
            timrest_error_free(err);
            err = NULL;
            failed++;
        }
    }
    if (timrest_client_effective_rate_limit(client, &rate) != TIMREST_OK || rate != 95.0) {
        fprintf(stderr, "worker %d: effective rate %f\n", index, rate);
        failed++;
    }
    timrest_client_free(client);
    return failed == 0 ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s PROCESSES REDIS_URL GROUP...\n", argv[0]);
        return 2;
    }
    const int processes = atoi(argv[1]);
    const char *redis_url = argv[2];
    if (processes < 1 || processes > 64) {
        return 2;
    }
    if (check_arguments(redis_url) != 0) {
        return 1;
    }
    /* The parent makes a call before forking (its random generator, if it had one, would be copied
       into every child): the children must still send `random`s of their own. */
    {
        timrest_client *parent = NULL;
        if (timrest_client_from_env(&parent, NULL) != TIMREST_OK ||
            timrest_delete_group_msg_by_sender(parent, argv[3], "spammer", NULL, NULL) != TIMREST_OK) {
            fprintf(stderr, "the parent's call failed\n");
            return 1;
        }
        timrest_client_free(parent);
    }
    pid_t pids[64];
    for (int i = 0; i < processes; i++) {
        pids[i] = fork();
        if (pids[i] < 0) {
            perror("fork");
            return 1;
        }
        if (pids[i] == 0) {
            exit(worker(i, processes, redis_url, argc - 3, argv + 3));
        }
    }
    int status = 0;
    for (int i = 0; i < processes; i++) {
        int child = 0;
        if (waitpid(pids[i], &child, 0) < 0 || !WIFEXITED(child) || WEXITSTATUS(child) != 0) {
            fprintf(stderr, "worker %d failed\n", i);
            status = 1;
        }
    }
    printf("fleet of %d done\n", processes);
    return status;
}
