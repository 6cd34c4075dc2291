/*
 * The C face of the incident work, run by tests/c_abi.rs against the emulator (natively and under
 * valgrind): the moderation commands, timrest_call with timrest_string_free, and
 * timrest_purge_senders with its step callback, report file and bad arguments.
 *
 *   incident commands GROUP ACCOUNT   mute, read the mute, kick, mute in GROUP, read its history,
 *                                     recall ACCOUNT's newest message, remove ACCOUNT; the JSON call
 *   incident ban REPORT ACCOUNT...    mute + deep purge of the accounts, steps written to REPORT;
 *                                     prints one line per step, then the totals
 *   incident dry ACCOUNT...           the same as a dry run
 *   incident args                     NULL, bad-size and over-the-limit arguments
 *
 * Credentials and the emulator come from the TIM_* environment (timrest_client_from_env).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <timrest.h>

#include "check.h"

/* The status of a call, printing its error (and freeing it) when it failed. The error is read
 * through its address, after the call wrote it. */
static timrest_status checked(const char *what, timrest_status status, timrest_error **err) {
    if (status != TIMREST_OK) {
        fprintf(stderr, "%s: %s (%s, code %lld)\n", what, timrest_error_message(*err), timrest_status_name(status),
                (long long)timrest_error_code(*err));
        timrest_error_free(*err);
        *err = NULL;
    }
    return status;
}

static int commands(timrest_client *client, const char *group, const char *account) {
    timrest_error *err = NULL;
    uint64_t c2c = 0, grp = 0;
    const char *members[1];
    char *json = NULL;
    char *answer = NULL;
    unsigned long long seq = 0;
    const char *at;

    members[0] = account;
    EXPECT(checked("mute", timrest_set_no_speaking(client, account, TIMREST_UNCHANGED, (int64_t)TIMREST_PERMANENT, &err), &err) == TIMREST_OK);
    EXPECT(checked("get mute", timrest_get_no_speaking(client, account, &c2c, &grp, &err), &err) == TIMREST_OK);
    EXPECT(c2c == 0 && grp == TIMREST_PERMANENT);
    EXPECT(checked("kick", timrest_kick(client, account, &err), &err) == TIMREST_OK);
    EXPECT(checked("forbid", timrest_forbid_send_msg(client, group, members, 1, 60, NULL, &err), &err) == TIMREST_OK);

    EXPECT(checked("history", timrest_group_msg_get_simple(client, group, 20, 0, false, NULL, &json, &err), &err) ==
           TIMREST_OK);
    /* The newest message of ACCOUNT: its msg_seq follows its from_account in the page. */
    if (json != NULL) {
        char needle[64];
        snprintf(needle, sizeof needle, "\"from_account\":\"%s\"", account);
        at = strstr(json, needle);
        EXPECT(at != NULL);
        if (at != NULL) {
            const char *s = strstr(at, "\"msg_seq\":");
            EXPECT(s != NULL);
            if (s != NULL) {
                seq = strtoull(s + strlen("\"msg_seq\":"), NULL, 10);
            }
        }
        EXPECT(strstr(json, "\"is_finished\":") != NULL);
        timrest_string_free(json);
    }
    {
        uint64_t seqs[2];
        int64_t codes[2] = {-7, -7};
        seqs[0] = seq;
        seqs[1] = 999999;
        EXPECT(checked("recall", timrest_group_msg_recall(client, group, seqs, 2, "spam", NULL, codes, &err), &err) ==
               TIMREST_OK);
        EXPECT(codes[0] == 0 && codes[1] != 0 && codes[1] != -7);
        printf("recalled %llu\n", seq);
    }
    EXPECT(checked("remove", timrest_delete_group_member(client, group, members, 1, true, NULL, &err), &err) ==
           TIMREST_OK);

    /* The escape hatch: any command, JSON in and out. */
    {
        char body[256];
        snprintf(body, sizeof body, "{\"Get_Account\":\"%s\"}", account);
        EXPECT(checked("call", timrest_call(client, "openconfigsvr", "getnospeaking", body, &answer, &err), &err) ==
               TIMREST_OK);
        EXPECT(answer != NULL && strstr(answer, "\"GroupmsgNospeakingTime\":4294967295") != NULL);
        timrest_string_free(answer);
        answer = NULL;
        EXPECT(timrest_call(client, "group_open_http_svc", "destroy_group", "{\"GroupId\":\"@TGS#nope\"}", &answer,
                            &err) == TIMREST_GROUP_NOT_FOUND);
        EXPECT(answer == NULL && timrest_error_code(err) == 10010);
        timrest_error_free(err);
        err = NULL;
    }
    return failures == 0 ? 0 : 1;
}

typedef struct {
    size_t steps;
    size_t muted;
    int deleted_before_mute;
} tally;

static int on_step(void *userdata, const timrest_step_result *step) {
    tally *t = userdata;
    t->steps++;
    if (strcmp(step->step, "mute") == 0 && strcmp(step->outcome, "failed") != 0) {
        t->muted++;
    }
    if (strcmp(step->step, "delete") == 0 && t->muted == 0) {
        t->deleted_before_mute = 1;
    }
    printf("step %s %s %s %s %s %llu\n", step->account, step->group_id ? step->group_id : "-",
           step->topic_id ? step->topic_id : "-", step->step, step->outcome, (unsigned long long)step->recalled);
    return 0;
}

static int job(timrest_client *client, const char *report_path, int dry_run, int argc, char **argv) {
    timrest_job_options options;
    timrest_job_report report;
    timrest_error *err = NULL;
    tally t;
    const char *types[4] = {"Public", "Private", "Community", "AVChatRoom"};

    memset(&t, 0, sizeof t);
    memset(&options, 0, sizeof options);
    options.size = sizeof options;
    options.mute = true;
    options.deep = true;
    options.dry_run = dry_run;
    options.report = report_path;
    options.page_size = 3;
    options.group_types = types;
    options.n_group_types = 4;
    memset(&report, 0, sizeof report);
    report.size = sizeof report;
    if (checked("purge_senders",
                timrest_purge_senders(client, (const char *const *)argv, (size_t)argc, &options, on_step, &t, &report,
                                      &err),
                &err) != TIMREST_OK) {
        return 1;
    }
    EXPECT(report.size == sizeof report);
    EXPECT(t.steps == report.ok + report.failed + report.skipped + report.planned);
    EXPECT(!t.deleted_before_mute);
    printf("ok=%lu failed=%lu skipped=%lu planned=%lu recalled=%llu targets=%lu calls=%llu busiest=%llu\n",
           (unsigned long)report.ok, (unsigned long)report.failed, (unsigned long)report.skipped,
           (unsigned long)report.planned, (unsigned long long)report.recalled, (unsigned long)report.targets,
           (unsigned long long)report.calls, (unsigned long long)report.busiest_calls);
    return failures == 0 ? 0 : 1;
}

static int args(timrest_client *client) {
    timrest_error *err = NULL;
    const char *one[1] = {"spam"};
    const char *none[1] = {NULL};
    const char *many[501];
    char *json = NULL;
    uint64_t a = 0, b = 0;
    uint64_t seqs[11];
    timrest_job_options options;
    timrest_job_report report;
    int i;

    for (i = 0; i < 501; i++) {
        many[i] = "spam";
    }
    for (i = 0; i < 11; i++) {
        seqs[i] = (uint64_t)i + 1;
    }
    EXPECT(timrest_kick(NULL, "spam", NULL) == TIMREST_NULL_ARGUMENT);
    EXPECT(timrest_kick(client, NULL, NULL) == TIMREST_NULL_ARGUMENT);
    EXPECT(timrest_kick(client, "bad\xff", NULL) == TIMREST_INVALID_UTF8);
    EXPECT(timrest_set_no_speaking(client, "spam", -5, 0, NULL) == TIMREST_INVALID_ARGUMENT);
    EXPECT(timrest_set_no_speaking(client, "spam", TIMREST_UNCHANGED, TIMREST_UNCHANGED, NULL) ==
           TIMREST_INVALID_ARGUMENT);
    EXPECT(timrest_set_no_speaking(client, "spam", (int64_t)TIMREST_PERMANENT + 1, 0, NULL) == TIMREST_INVALID_ARGUMENT);
    EXPECT(timrest_get_no_speaking(client, "spam", NULL, &b, NULL) == TIMREST_NULL_ARGUMENT);
    EXPECT(timrest_get_no_speaking(client, "spam", &a, NULL, NULL) == TIMREST_NULL_ARGUMENT);
    EXPECT(timrest_forbid_send_msg(client, "@TGS#1", many, 501, 60, NULL, NULL) == TIMREST_INVALID_ARGUMENT);
    EXPECT(timrest_forbid_send_msg(client, "@TGS#1", NULL, 2, 60, NULL, NULL) == TIMREST_NULL_ARGUMENT);
    EXPECT(timrest_forbid_send_msg(client, "@TGS#1", none, 1, 60, NULL, NULL) == TIMREST_NULL_ARGUMENT);
    EXPECT(timrest_delete_group_member(client, "@TGS#1", many, 101, true, NULL, NULL) == TIMREST_INVALID_ARGUMENT);
    EXPECT(timrest_delete_group_member(client, "@TGS#1", one, 0, true, NULL, NULL) == TIMREST_INVALID_ARGUMENT);
    EXPECT(timrest_group_msg_recall(client, "@TGS#1", seqs, 11, NULL, NULL, NULL, NULL) == TIMREST_INVALID_ARGUMENT);
    EXPECT(timrest_group_msg_recall(client, "@TGS#1", NULL, 1, NULL, NULL, NULL, NULL) == TIMREST_NULL_ARGUMENT);
    EXPECT(timrest_group_msg_get_simple(client, "@TGS#1", 21, 0, false, NULL, &json, NULL) == TIMREST_INVALID_ARGUMENT);
    EXPECT(timrest_group_msg_get_simple(client, "@TGS#1", 20, 0, false, NULL, NULL, NULL) == TIMREST_NULL_ARGUMENT);
    EXPECT(json == NULL);
    EXPECT(timrest_call(client, "openconfigsvr", "getnospeaking", "not json", &json, &err) == TIMREST_INVALID_ARGUMENT);
    EXPECT(json == NULL && strstr(timrest_error_message(err), "not JSON") != NULL);
    timrest_error_free(err);
    err = NULL;
    EXPECT(timrest_call(client, "openconfigsvr", "getnospeaking", "[1]", &json, NULL) == TIMREST_INVALID_ARGUMENT);
    EXPECT(timrest_call(client, "../x", "getnospeaking", "{}", &json, NULL) == TIMREST_INVALID_ARGUMENT);
    timrest_string_free(NULL);

    memset(&report, 0, sizeof report);
    report.size = sizeof report;
    EXPECT(timrest_purge_senders(client, one, 0, NULL, NULL, NULL, &report, NULL) == TIMREST_INVALID_ARGUMENT);
    EXPECT(timrest_purge_senders(client, NULL, 1, NULL, NULL, NULL, &report, NULL) == TIMREST_NULL_ARGUMENT);
    EXPECT(timrest_purge_senders(client, one, 1, NULL, NULL, NULL, NULL, NULL) == TIMREST_NULL_ARGUMENT);
    memset(&options, 0, sizeof options);
    options.size = 8;
    EXPECT(timrest_purge_senders(client, one, 1, &options, NULL, NULL, &report, NULL) == TIMREST_INVALID_ARGUMENT);
    options.size = sizeof options;
    options.resume = true; /* without a report */
    EXPECT(timrest_purge_senders(client, one, 1, &options, NULL, NULL, &report, NULL) == TIMREST_INVALID_ARGUMENT);
    report.size = 4;
    options.resume = false;
    EXPECT(timrest_purge_senders(client, one, 1, &options, NULL, NULL, &report, NULL) == TIMREST_INVALID_ARGUMENT);
    return failures == 0 ? 0 : 1;
}

int main(int argc, char **argv) {
    timrest_client *client;
    int rc;
    if (argc < 2) {
        fprintf(stderr, "usage: incident commands|ban|dry|args ...\n");
        return 2;
    }
    client = client_or_die();
    if (strcmp(argv[1], "commands") == 0 && argc == 4) {
        rc = commands(client, argv[2], argv[3]);
    } else if (strcmp(argv[1], "ban") == 0 && argc >= 4) {
        rc = job(client, argv[2], 0, argc - 3, argv + 3);
    } else if (strcmp(argv[1], "dry") == 0 && argc >= 3) {
        rc = job(client, NULL, 1, argc - 2, argv + 2);
    } else if (strcmp(argv[1], "args") == 0) {
        rc = args(client);
    } else {
        fprintf(stderr, "bad arguments\n");
        rc = 2;
    }
    timrest_client_free(client);
    return rc;
}
