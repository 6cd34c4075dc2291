//! The moderation commands, the incident job (`timrest_purge_senders`) and the escape hatch
//! (`timrest_call`) for C.
//!
//! Arrays of accounts are `const char *const *` with a count; strings the library returns
//! (`timrest_call`, `timrest_group_msg_get_simple`) are NUL-terminated UTF-8 JSON owned by the
//! caller, freed with `timrest_string_free`.

use std::ffi::{CString, c_char, c_int, c_void};
use std::ops::ControlFlow;
use std::path::PathBuf;

use crate::moderation::HistoryRequest;
use crate::purge::{JobEvent, JobOptions, StepResult};

use super::boundary::{self, Outcome};
use super::client::timrest_client;
use super::error::timrest_error;
use super::status::timrest_status;

/// A mute that never ends, in seconds (TIM's 4294967295).
pub const TIMREST_PERMANENT: u64 = 4_294_967_295;

/// For `timrest_set_no_speaking`: leave that mute as it is.
pub const TIMREST_UNCHANGED: i64 = -1;

/// Settings of `timrest_purge_senders`; pass NULL for the defaults (a purge: no mute, no
/// removal, no deep pass, every group type, topics included). Set `size` to
/// `sizeof(timrest_job_options)`. Every field's zero value is its default.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct timrest_job_options {
    /// Set by the caller: `sizeof(timrest_job_options)`.
    pub size: usize,
    /// Mute each account everywhere, permanently, before cleaning (a ban).
    pub mute: bool,
    /// Also end each account's login state (`kick`).
    pub kick: bool,
    /// Remove each account from each group before deleting there.
    pub remove: bool,
    /// Read each group's history below the latest 1000 and recall the accounts' messages there
    /// (a recall is visible to clients).
    pub deep: bool,
    /// Send reads only; every write is a step with the outcome `"planned"`.
    pub dry_run: bool,
    /// Go on with the job of `report`: only the steps not ok there.
    pub resume: bool,
    /// Do not clean the topics of topic-enabled Communities.
    pub skip_topics: bool,
    /// With `deep`, leave messages sent before this Unix time alone (0: back to the start).
    pub since: u64,
    /// A new JSON-lines report file, one line per step as it ends (NULL: none).
    pub report: *const c_char,
    /// Calls in flight per command, 1 to 1024 (0: the default, 16).
    pub concurrency: u32,
    /// Groups per `get_joined_group_list` page, 1 to 5000 (0: the default, 1000).
    pub page_size: u32,
    /// Only groups of these types (`"Public"`, `"Private"`, …): `n_group_types` strings, or NULL.
    pub group_types: *const *const c_char,
    /// The number of strings in `group_types`.
    pub n_group_types: usize,
}

/// One step of a job as it ended, handed to the `timrest_on_step` callback. It and its strings
/// are valid only during the callback.
#[repr(C)]
#[derive(Debug)]
pub struct timrest_step_result {
    /// `sizeof(timrest_step_result)` of the library: fields beyond it do not exist.
    pub size: usize,
    /// The account.
    pub account: *const c_char,
    /// The group, or NULL (`mute`, `kick`).
    pub group_id: *const c_char,
    /// The topic, or NULL.
    pub topic_id: *const c_char,
    /// `"mute"`, `"kick"`, `"remove"`, `"delete"` or `"recall"`.
    pub step: *const c_char,
    /// `"ok"`, `"failed"`, `"skipped"` or `"planned"`.
    pub outcome: *const c_char,
    /// The TIM `ErrorCode` of a failure, or 0.
    pub code: i64,
    /// Why it failed or was skipped ("" when ok).
    pub detail: *const c_char,
    /// Messages recalled (a dry run: that would be).
    pub recalled: u64,
}

/// Called with each step as it ends, exactly once per step, on the thread that called
/// `timrest_purge_senders`. Return 0 to go on; anything else stops the job (the calls in flight
/// end and are reported; with a report, `resume` does the rest).
pub type timrest_on_step =
    Option<unsafe extern "C" fn(userdata: *mut c_void, step: *const timrest_step_result) -> c_int>;

/// Totals of a job. Set `size` to `sizeof(timrest_job_report)`; written only on success.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct timrest_job_report {
    /// Set by the caller: `sizeof(timrest_job_report)`.
    pub size: usize,
    /// Steps ok.
    pub ok: usize,
    /// Steps failed.
    pub failed: usize,
    /// Steps skipped (AVChatRoom groups, dissolved groups, accounts whose stop step failed).
    pub skipped: usize,
    /// Steps planned (a dry run).
    pub planned: usize,
    /// Messages recalled (a dry run: that would be).
    pub recalled: u64,
    /// Steps already ok in the report of a resumed job.
    pub resumed: usize,
    /// The (account, group or topic) places of the plan.
    pub targets: usize,
    /// The calls the job made (a dry run: with the planned writes).
    pub calls: u64,
    /// The busiest command's calls: at `rate` per second per command, the job takes at least
    /// `busiest_calls / rate` seconds.
    pub busiest_calls: u64,
    /// True when the job stopped before its end (the callback asked).
    pub stopped_early: bool,
    /// Wall-clock time, in microseconds.
    pub elapsed_us: u64,
}

/// `n` C strings as `&str`s.
///
/// # Safety
/// `list` is NULL or points to `n` pointers, each NULL or a NUL-terminated string that lives
/// during the call.
unsafe fn str_list<'a>(name: &str, list: *const *const c_char, n: usize) -> Outcome<Vec<&'a str>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    if list.is_null() {
        return Err(boundary::null_argument(name));
    }
    // SAFETY: not NULL, `n` pointers by the caller's contract.
    let items = unsafe { std::slice::from_raw_parts(list, n) };
    items
        .iter()
        .enumerate()
        // SAFETY: each is NULL or NUL-terminated, by the caller's contract.
        .map(|(i, s)| unsafe { boundary::str_arg(&format!("{name}[{i}]"), *s) })
        .collect()
}

/// A string handed to C, to be freed with `timrest_string_free`.
fn c_string(text: String) -> *mut c_char {
    CString::new(text.replace('\0', "\u{FFFD}")).unwrap_or_default().into_raw()
}

fn core<'a>(client: *const timrest_client) -> Outcome<&'a crate::Client> {
    // SAFETY: NULL or a live handle, by the header's contract; it outlives the call.
    unsafe { boundary::ref_arg("client", client) }.map(|c| c.core())
}

fn api<T>(result: crate::Result<T>) -> Outcome<T> {
    result.map_err(|e| timrest_error::from_core(&e))
}

/// Mutes `account` everywhere (`openconfigsvr/setnospeaking`): one-to-one messages for
/// `c2c_seconds`, group messages for `group_seconds` (0 lifts it, `TIMREST_PERMANENT` never
/// ends it, `TIMREST_UNCHANGED` (-1) leaves it). While the group mute holds, the account's group
/// messages fail with 10017. A value over `TIMREST_PERMANENT`, or both unchanged, is
/// `TIMREST_INVALID_ARGUMENT` before sending. Thread safe.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn timrest_set_no_speaking(
    client: *const timrest_client,
    account: *const c_char,
    c2c_seconds: i64,
    group_seconds: i64,
    err_out: *mut *mut timrest_error,
) -> timrest_status {
    unsafe {
        boundary::guard("timrest_set_no_speaking", err_out, || {
            let client = core(client)?;
            let account = boundary::str_arg("account", account)?;
            let seconds = |name: &str, v: i64| -> Outcome<Option<u64>> {
                match v {
                    TIMREST_UNCHANGED => Ok(None),
                    v if v >= 0 => Ok(Some(v as u64)),
                    v => Err(timrest_error::c_layer(
                        timrest_status::TIMREST_INVALID_ARGUMENT,
                        format!("{name} is {v}: give 0 to 4294967295 seconds, or TIMREST_UNCHANGED"),
                    )),
                }
            };
            let (c2c, group) = (seconds("c2c_seconds", c2c_seconds)?, seconds("group_seconds", group_seconds)?);
            api(client.set_no_speaking(account, c2c, group))
        })
    }
}

/// The global mute of `account`: seconds left of each (0: none; `TIMREST_PERMANENT`: for ever),
/// written to `*c2c_seconds_out` and `*group_seconds_out` on success. Thread safe.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn timrest_get_no_speaking(
    client: *const timrest_client,
    account: *const c_char,
    c2c_seconds_out: *mut u64,
    group_seconds_out: *mut u64,
    err_out: *mut *mut timrest_error,
) -> timrest_status {
    unsafe {
        boundary::guard("timrest_get_no_speaking", err_out, || {
            let client = core(client)?;
            let account = boundary::str_arg("account", account)?;
            let c2c_out = boundary::out_arg("c2c_seconds_out", c2c_seconds_out)?;
            let group_out = boundary::out_arg("group_seconds_out", group_seconds_out)?;
            let state = api(client.get_no_speaking(account))?;
            boundary::write_out(c2c_out, state.c2c_seconds);
            boundary::write_out(group_out, state.group_seconds);
            Ok(())
        })
    }
}

/// Ends the login state of `account` (`im_open_login_svc/kick`). A new UserSig logs it in
/// again: TIM has no ban, so the app server must stop issuing them too. Thread safe.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn timrest_kick(
    client: *const timrest_client,
    account: *const c_char,
    err_out: *mut *mut timrest_error,
) -> timrest_status {
    unsafe {
        boundary::guard("timrest_kick", err_out, || {
            let client = core(client)?;
            api(client.kick(boundary::str_arg("account", account)?))
        })
    }
}

/// Mutes the `n_members` accounts of `members` (1 to 500) in one group, or in `topic_id`
/// (NULL: the group), for `mute_time` seconds (0 lifts it; `TIMREST_PERMANENT`). Thread safe.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn timrest_forbid_send_msg(
    client: *const timrest_client,
    group_id: *const c_char,
    members: *const *const c_char,
    n_members: usize,
    mute_time: u64,
    topic_id: *const c_char,
    err_out: *mut *mut timrest_error,
) -> timrest_status {
    unsafe {
        boundary::guard("timrest_forbid_send_msg", err_out, || {
            let client = core(client)?;
            let group = boundary::str_arg("group_id", group_id)?;
            let members = str_list("members", members, n_members)?;
            let topic = boundary::opt_str_arg("topic_id", topic_id)?;
            api(client.forbid_send_msg(group, &members, mute_time, topic))
        })
    }
}

/// Removes the `n_members` accounts of `members` (1 to 100) from a group; with `silence` only
/// they are told. `reason` may be NULL. An AVChatRoom answers 10004 (`TIMREST_INVALID_PARAMETER`).
/// Thread safe.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn timrest_delete_group_member(
    client: *const timrest_client,
    group_id: *const c_char,
    members: *const *const c_char,
    n_members: usize,
    silence: bool,
    reason: *const c_char,
    err_out: *mut *mut timrest_error,
) -> timrest_status {
    unsafe {
        boundary::guard("timrest_delete_group_member", err_out, || {
            let client = core(client)?;
            let group = boundary::str_arg("group_id", group_id)?;
            let members = str_list("members", members, n_members)?;
            let reason = boundary::opt_str_arg("reason", reason)?;
            api(client.delete_group_member(group, &members, silence, reason))
        })
    }
}

/// One page of a group's (or topic's) history, newest first: up to `req_msg_number` (1 to 20)
/// messages with a `MsgSeq` up to `req_msg_seq` (0: from the newest). On success `*json_out` is
/// `{"is_finished": bool, "messages": [{"from_account", "msg_seq", "msg_time_stamp",
/// "msg_random", "is_place_msg", "msg_body"}, …]}`; free it with `timrest_string_free`.
/// Thread safe.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn timrest_group_msg_get_simple(
    client: *const timrest_client,
    group_id: *const c_char,
    req_msg_number: u32,
    req_msg_seq: u64,
    with_recalled: bool,
    topic_id: *const c_char,
    json_out: *mut *mut c_char,
    err_out: *mut *mut timrest_error,
) -> timrest_status {
    unsafe {
        boundary::guard("timrest_group_msg_get_simple", err_out, || {
            let client = core(client)?;
            let request = HistoryRequest {
                group_id: boundary::str_arg("group_id", group_id)?.to_owned(),
                req_msg_number,
                req_msg_seq: (req_msg_seq != 0).then_some(req_msg_seq),
                with_recalled,
                topic_id: boundary::opt_str_arg("topic_id", topic_id)?.map(str::to_owned),
            };
            let out = boundary::out_arg("json_out", json_out)?;
            let page = api(client.group_msg_get_simple(&request))?;
            let messages: Vec<serde_json::Value> = page
                .messages
                .iter()
                .map(|m| {
                    serde_json::json!({"from_account": m.from_account, "msg_seq": m.msg_seq,
                        "msg_time_stamp": m.msg_time_stamp, "msg_random": m.msg_random,
                        "is_place_msg": m.is_place_msg, "msg_body": m.msg_body})
                })
                .collect();
            let json = serde_json::json!({"is_finished": page.is_finished, "messages": messages});
            boundary::write_out(out, c_string(json.to_string()));
            Ok(())
        })
    }
}

/// Recalls the `n_seqs` messages of `msg_seqs` (1 to 10) from a group or `topic_id` (NULL: the
/// group): **visible** to every client, and final. `reason` may be NULL. When `ret_codes_out`
/// is not NULL it receives `n_seqs` values, each seq's `RetCode` (0: recalled). Thread safe.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn timrest_group_msg_recall(
    client: *const timrest_client,
    group_id: *const c_char,
    msg_seqs: *const u64,
    n_seqs: usize,
    reason: *const c_char,
    topic_id: *const c_char,
    ret_codes_out: *mut i64,
    err_out: *mut *mut timrest_error,
) -> timrest_status {
    unsafe {
        boundary::guard("timrest_group_msg_recall", err_out, || {
            let client = core(client)?;
            let group = boundary::str_arg("group_id", group_id)?;
            if msg_seqs.is_null() && n_seqs > 0 {
                return Err(boundary::null_argument("msg_seqs"));
            }
            let seqs: &[u64] = if n_seqs == 0 { &[] } else { std::slice::from_raw_parts(msg_seqs, n_seqs) };
            let reason = boundary::opt_str_arg("reason", reason)?;
            let topic = boundary::opt_str_arg("topic_id", topic_id)?;
            let results = api(client.group_msg_recall(group, seqs, reason, topic))?;
            if !ret_codes_out.is_null() {
                for (i, r) in results.iter().enumerate() {
                    ret_codes_out.add(i).write(r.ret_code);
                }
            }
            Ok(())
        })
    }
}

/// Any REST command, for those without a function of their own: `POST /v4/{service}/{command}`
/// with the JSON object `json_body`. On success `*json_answer_out` is the whole answer (free it
/// with `timrest_string_free`); a nonzero `ErrorCode` is its typed status. The client's limiter
/// (one lane per command), retries and deadline apply: call only commands safe to repeat.
/// Thread safe.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn timrest_call(
    client: *const timrest_client,
    service: *const c_char,
    command: *const c_char,
    json_body: *const c_char,
    json_answer_out: *mut *mut c_char,
    err_out: *mut *mut timrest_error,
) -> timrest_status {
    unsafe {
        boundary::guard("timrest_call", err_out, || {
            let client = core(client)?;
            let service = boundary::str_arg("service", service)?;
            let command = boundary::str_arg("command", command)?;
            let text = boundary::str_arg("json_body", json_body)?;
            let out = boundary::out_arg("json_answer_out", json_answer_out)?;
            let body: serde_json::Value = serde_json::from_str(text).map_err(|e| {
                timrest_error::c_layer(timrest_status::TIMREST_INVALID_ARGUMENT, format!("json_body is not JSON: {e}"))
            })?;
            if !body.is_object() {
                return Err(timrest_error::c_layer(
                    timrest_status::TIMREST_INVALID_ARGUMENT,
                    "json_body must be a JSON object",
                ));
            }
            let (answer, _) = api(client.call(service, command, &body))?;
            boundary::write_out(out, c_string(answer.to_string()));
            Ok(())
        })
    }
}

/// Frees a string timrest returned (`timrest_call`, `timrest_group_msg_get_simple`). NULL does
/// nothing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn timrest_string_free(text: *mut c_char) {
    boundary::catch((), || {
        if !text.is_null() {
            // SAFETY: a string this library made with CString::into_raw, freed once.
            drop(unsafe { CString::from_raw(text) });
        }
    })
}

/// Hands one step to the C callback; true when it asked to stop.
///
/// # Safety
/// `on_step` is a valid function pointer (or None) and accepts `userdata`.
unsafe fn deliver(on_step: timrest_on_step, userdata: *mut c_void, step: &StepResult) -> bool {
    let Some(callback) = on_step else { return false };
    let c = |s: &str| CString::new(s.replace('\0', "\u{FFFD}")).unwrap_or_default();
    let account = c(&step.account);
    let group = step.group_id.as_deref().map(c);
    let topic = step.topic_id.as_deref().map(c);
    let (name, outcome, detail) = (c(step.step.name()), c(step.outcome.name()), c(&step.detail));
    let result = timrest_step_result {
        size: size_of::<timrest_step_result>(),
        account: account.as_ptr(),
        group_id: group.as_ref().map_or(std::ptr::null(), |s| s.as_ptr()),
        topic_id: topic.as_ref().map_or(std::ptr::null(), |s| s.as_ptr()),
        step: name.as_ptr(),
        outcome: outcome.as_ptr(),
        code: step.code.unwrap_or(0),
        detail: detail.as_ptr(),
        recalled: step.recalled,
    };
    // SAFETY: the caller's function pointer, with its userdata and a result that lives until it returns.
    unsafe { callback(userdata, &result) != 0 }
}

/// A spam incident in one job: stops the `n_senders` accounts of `senders` (with
/// `options->mute`, and `kick`), plans (their groups and topics, written to the report before
/// any write to a group), then cleans each group: `remove`, `delete_group_msg_by_sender` in the
/// group and its topics, and with `deep` one read of the history below the latest 1000 for all
/// the accounts, recalling what it finds (visible to clients). The commands run side by side.
/// AVChatRoom groups and groups dissolved during the job are skipped; `dry_run` sends reads only.
///
/// `on_step` (may be NULL) is called with each step as it ends, on the calling thread; non-zero
/// stops the job. On success `*report_out` holds the totals (set `report_out->size` first).
/// Fails before any step for bad arguments or a report that cannot be used (another job's, a
/// corrupt one, or a new path that exists), and after the stop steps when a listing fails.
/// Thread safe.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn timrest_purge_senders(
    client: *const timrest_client,
    senders: *const *const c_char,
    n_senders: usize,
    options: *const timrest_job_options,
    on_step: timrest_on_step,
    userdata: *mut c_void,
    report_out: *mut timrest_job_report,
    err_out: *mut *mut timrest_error,
) -> timrest_status {
    unsafe {
        boundary::guard("timrest_purge_senders", err_out, || {
            let client = core(client)?;
            let senders = str_list("senders", senders, n_senders)?;
            let options = options.as_ref();
            if let Some(o) = options
                && o.size < size_of::<timrest_job_options>()
            {
                return Err(super::batch::bad_size("options", o.size, size_of::<timrest_job_options>()));
            }
            let report_out = boundary::out_arg("report_out", report_out)?;
            if (*report_out).size < size_of::<timrest_job_report>() {
                return Err(super::batch::bad_size("report_out", (*report_out).size, size_of::<timrest_job_report>()));
            }
            let mut job = JobOptions::default();
            if let Some(o) = options {
                job.mute = o.mute;
                job.kick = o.kick;
                job.remove = o.remove;
                job.deep = o.deep;
                job.dry_run = o.dry_run;
                job.resume = o.resume;
                job.include_topics = !o.skip_topics;
                job.since = (o.since != 0).then_some(o.since);
                job.report = boundary::opt_str_arg("options->report", o.report)?.map(PathBuf::from);
                if o.concurrency != 0 {
                    job.concurrency = o.concurrency as usize;
                }
                if o.page_size != 0 {
                    job.page_size = o.page_size;
                }
                if !o.group_types.is_null() || o.n_group_types > 0 {
                    let names = str_list("options->group_types", o.group_types, o.n_group_types)?;
                    job.group_types = Some(names.into_iter().map(str::to_owned).collect());
                }
            }
            let report = api(client.purge_senders(&senders, &job, |event| match event {
                // SAFETY: the caller's callback and userdata.
                JobEvent::Step(step, _) if deliver(on_step, userdata, step) => ControlFlow::Break(()),
                _ => ControlFlow::Continue(()),
            }))?;
            let written = timrest_job_report {
                size: (*report_out).size,
                ok: report.ok(),
                failed: report.failed(),
                skipped: report.skipped(),
                planned: report.planned(),
                recalled: report.recalled(),
                resumed: report.resumed,
                targets: report.plan.len(),
                calls: report.calls.values().sum(),
                busiest_calls: report.calls.values().copied().max().unwrap_or(0),
                stopped_early: report.stopped_early,
                elapsed_us: u64::try_from(report.elapsed.as_micros()).unwrap_or(u64::MAX),
            };
            boundary::write_out(report_out, written);
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_c_constant_is_the_cores() {
        assert_eq!(super::TIMREST_PERMANENT, crate::moderation::PERMANENT);
    }
}
