/*
 * Per-call cost of the C ABI: sequential timrest_delete_group_msg_by_sender calls on one client
 * (keep-alive, no rate limit), timed with clock_gettime. Prints one JSON object on stdout, with
 * the same fields as bench/clients.rs.
 *
 *   cc -std=c11 -O2 -I include bench/c/per_call.c -L DIR -ltimrest -Wl,-rpath,DIR -o per_call
 *   ./per_call URL GROUP SENDER N WARMUP
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <timrest.h>

#define SDKAPPID 1400000000ULL
#define SECRET_KEY "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e"

static uint64_t ns_of(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* A field of /proc/self/status in KiB (VmRSS, VmHWM); 0 when unknown. */
static long status_kib(const char *field) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = 0;
    size_t len = strlen(field);
    if (f == NULL) return 0;
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, field, len) == 0 && line[len] == ':') {
            kib = strtol(line + len + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kib;
}

static int call(const timrest_client *client, const char *group, const char *sender) {
    timrest_error *err = NULL;
    if (timrest_delete_group_msg_by_sender(client, group, sender, NULL, &err) != TIMREST_OK) {
        fprintf(stderr, "per_call: %s\n", timrest_error_message(err));
        timrest_error_free(err);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv) {
    timrest_config *config = NULL;
    timrest_client *client = NULL;
    timrest_error *err = NULL;
    uint64_t *ns, cpu0, wall0, cpu, wall;
    long n, warmup, i;
    double sum = 0;

    if (argc != 6) {
        fprintf(stderr, "usage: %s URL GROUP SENDER N WARMUP\n", argv[0]);
        return 2;
    }
    n = strtol(argv[4], NULL, 10);
    warmup = strtol(argv[5], NULL, 10);
    if (n < 1 || warmup < 0 || (ns = malloc((size_t)n * sizeof *ns)) == NULL) return 2;

    if (timrest_config_new(&config) != TIMREST_OK || timrest_config_set_sdkappid(config, SDKAPPID) != TIMREST_OK ||
        timrest_config_set_secret_key(config, SECRET_KEY) != TIMREST_OK ||
        timrest_config_set_base_url(config, argv[1]) != TIMREST_OK ||
        timrest_config_set_no_rate_limit(config) != TIMREST_OK || timrest_client_new(config, &client, &err) != TIMREST_OK) {
        fprintf(stderr, "per_call: cannot create the client: %s\n", err ? timrest_error_message(err) : "config");
        timrest_error_free(err);
        timrest_config_free(config);
        return 1;
    }
    timrest_config_free(config);

    for (i = 0; i < warmup; i++)
        if (call(client, argv[2], argv[3]) != 0) return 1;
    cpu0 = ns_of(CLOCK_PROCESS_CPUTIME_ID);
    wall0 = ns_of(CLOCK_MONOTONIC);
    for (i = 0; i < n; i++) {
        uint64_t t = ns_of(CLOCK_MONOTONIC);
        if (call(client, argv[2], argv[3]) != 0) return 1;
        ns[i] = ns_of(CLOCK_MONOTONIC) - t;
    }
    cpu = ns_of(CLOCK_PROCESS_CPUTIME_ID) - cpu0;
    wall = ns_of(CLOCK_MONOTONIC) - wall0;

    for (i = 0; i < n; i++) sum += (double)ns[i];
    qsort(ns, (size_t)n, sizeof *ns, cmp_u64);
    printf("{\"client\":\"c\",\"n\":%ld,\"median_us\":%.3f,\"p99_us\":%.3f,\"mean_us\":%.3f,\"cpu_us\":%.3f,"
           "\"wall_s\":%.6f,\"rss_kib\":%ld,\"hwm_kib\":%ld}\n",
           n, (double)ns[(long)((double)(n - 1) * 0.5 + 0.5)] / 1000.0,
           (double)ns[(long)((double)(n - 1) * 0.99 + 0.5)] / 1000.0, sum / (double)n / 1000.0,
           (double)cpu / (double)n / 1000.0, (double)wall / 1e9, status_kib("VmRSS"), status_kib("VmHWM"));
    timrest_client_free(client);
    free(ns);
    return 0;
}
