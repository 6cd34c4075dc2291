/*
 * What the C test programs share (tests/c/bulk.c, tests/c/incident.c): a check that counts failures
 * and goes on, and a client from the TIM_* environment or an exit.
 */
#ifndef TIMREST_TEST_CHECK_H
#define TIMREST_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#include <timrest.h>

static int failures = 0;

#define EXPECT(cond)                                                                   \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "%s:%d: expected %s\n", __FILE__, __LINE__, #cond);        \
            failures++;                                                                \
        }                                                                              \
    } while (0)

static timrest_client *client_or_die(void) {
    timrest_client *client = NULL;
    timrest_error *err = NULL;
    if (timrest_client_from_env(&client, &err) != TIMREST_OK) {
        fprintf(stderr, "client: %s\n", timrest_error_message(err));
        timrest_error_free(err);
        exit(2);
    }
    return client;
}

#endif
