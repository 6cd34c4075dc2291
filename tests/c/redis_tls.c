/*
 * The shared limiter's TLS and password errors from C (tests/c_abi.rs runs it against a real
 * redis-server with TLS, or with a password, and the emulator).
 *
 *   redis_tls URL CA_PEM_FILE|- CERT_PEM_FILE|- KEY_PEM_FILE|- GROUP EXPECTED_STATUS SECRET|-
 *
 * Builds a client from the TIM_* environment with rate_limit_fallback "fail" and a 2 s deadline,
 * the given rate_limit_url and TLS files, deletes what "spammer" posted in GROUP, and prints the
 * status's name and the message. Exit status 0 when the status is EXPECTED_STATUS and SECRET (when
 * given) appears in no message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <timrest.h>

/* The whole file at path into *out (malloc'ed), its length into *len; 0 on success. */
static int slurp(const char *path, unsigned char **out, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) return 1;
    size_t cap = 4096, n = 0;
    unsigned char *buf = malloc(cap);
    size_t got;
    while (buf != NULL && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            cap *= 2;
            unsigned char *bigger = realloc(buf, cap);
            if (bigger == NULL) { free(buf); buf = NULL; }
            else buf = bigger;
        }
    }
    fclose(f);
    if (buf == NULL) return 1;
    *out = buf;
    *len = n;
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 8) {
        fprintf(stderr, "usage: redis_tls URL CA|- CERT|- KEY|- GROUP EXPECTED SECRET|-\n");
        return 2;
    }
    const char *secret = strcmp(argv[7], "-") == 0 ? NULL : argv[7];
    timrest_config *config = NULL;
    timrest_client *client = NULL;
    timrest_error *err = NULL;
    timrest_status status = timrest_config_from_env(&config, &err);
    if (status != TIMREST_OK) {
        fprintf(stderr, "config: %s\n", timrest_error_message(err));
        return 2;
    }
    timrest_config_set_rate_limit(config, 50.0);
    timrest_config_set_rate_limit_fallback(config, "fail");
    timrest_config_set_deadline_ms(config, 2000);
    timrest_config_set_rate_limit_url(config, argv[1]);
    unsigned char *ca = NULL, *cert = NULL, *key = NULL;
    size_t ca_len = 0, cert_len = 0, key_len = 0;
    if (strcmp(argv[2], "-") != 0) {
        if (slurp(argv[2], &ca, &ca_len) != 0) return 2;
        if (timrest_config_set_rate_limit_ca_pem(config, ca, ca_len) != TIMREST_OK) return 2;
    }
    if (strcmp(argv[3], "-") != 0) {
        if (slurp(argv[3], &cert, &cert_len) != 0 || slurp(argv[4], &key, &key_len) != 0) return 2;
        if (timrest_config_set_rate_limit_client_cert_pem(config, cert, cert_len, key, key_len) != TIMREST_OK) return 2;
    }
    /* NULL arguments are refused by name, and change nothing. */
    if (timrest_config_set_rate_limit_ca_pem(config, NULL, 3) != TIMREST_NULL_ARGUMENT) return 3;
    if (timrest_config_set_rate_limit_client_cert_pem(config, cert, cert_len, NULL, 1) != TIMREST_NULL_ARGUMENT) return 3;

    int failed = 0;
    status = timrest_client_new(config, &client, &err);
    if (status == TIMREST_OK) {
        status = timrest_delete_group_msg_by_sender(client, argv[5], "spammer", NULL, &err);
    }
    const char *message = err != NULL ? timrest_error_message(err) : "";
    printf("%s: %s\n", timrest_status_name(status), message);
    if (strcmp(timrest_status_name(status), argv[6]) != 0) failed = 1;
    if (secret != NULL && strstr(message, secret) != NULL) {
        fprintf(stderr, "the secret is in the message\n");
        failed = 1;
    }
    timrest_error_free(err);
    timrest_client_free(client);
    timrest_config_free(config);
    free(ca);
    free(cert);
    free(key);
    return failed;
}
