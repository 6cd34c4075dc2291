/*
 * Deletes what one user sent among the latest 1000 messages of a group.
 *
 *   cc -std=c99 delete_by_sender.c $(pkg-config --cflags --libs timrest) \
 *       -Wl,-rpath,"$(pkg-config --variable=libdir timrest)" -o delete_by_sender
 *   export TIM_SDKAPPID=1400000000 TIM_SECRET_KEY=...   # and TIM_BASE_URL for the emulator
 *   ./delete_by_sender release-team spammer42
 *
 * Settings come from the environment: TIM_SDKAPPID, TIM_SECRET_KEY (or TIM_USERSIG),
 * TIM_IDENTIFIER (default administrator), TIM_REGION or TIM_BASE_URL. To try it without an
 * account, run `timrest-emulator --seed-demo` (installed by scripts/install.sh, and by the Python
 * package with `timrest emulator` as its other name), set TIM_BASE_URL to the address it prints,
 * with the demo SDKAppID 1400000000 and the demo key (its --help prints it), and delete spammer42's
 * messages in a group it seeded: release-team, ops-oncall or friday-meetup.
 */
#include <stdio.h>

#include <timrest.h>

int main(int argc, char **argv) {
    timrest_client *client = NULL;
    timrest_error *err = NULL;
    int exit_code = 0;

    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: %s GROUP_ID SENDER [TOPIC_ID]\n", argv[0]);
        return 2;
    }
    if (timrest_client_from_env(&client, &err) != TIMREST_OK) {
        fprintf(stderr, "settings: %s\n", timrest_error_message(err));
        timrest_error_free(err);
        return 2;
    }

    /* One client serves every thread of the process: create it once, share it, free it last. */
    if (timrest_delete_group_msg_by_sender(client, argv[1], argv[2], argc == 4 ? argv[3] : NULL, &err) ==
        TIMREST_OK) {
        printf("deleted the messages of %s in %s\n", argv[2], argv[1]);
    } else {
        /* The status says what to do; the code and random are for logs and Tencent support. */
        fprintf(stderr, "failed: %s (status %s, code %lld, random %lld, retryable %s)\n",
                timrest_error_message(err), timrest_status_name(timrest_error_status(err)),
                (long long)timrest_error_code(err), (long long)timrest_error_random(err),
                timrest_error_retryable(err) ? "yes" : "no");
        timrest_error_free(err);
        exit_code = 1;
    }

    timrest_client_free(client);
    return exit_code;
}
