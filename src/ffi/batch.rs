//! Calls that report more than a status: `timrest_delete_by_sender` (with `timrest_call_info`),
//! `timrest_delete_many` and `timrest_purge_sender` (bulk, with a per-item callback).
//!
//! The structs here are plain C structs that start with a `size` field, so that they can grow:
//! the caller sets `size = sizeof(the struct)`; the library reads or writes only the fields that
//! fit in that size, and refuses a size smaller than the first version of the struct.

use std::ffi::{CString, c_char, c_int, c_void};
use std::ops::ControlFlow;

use crate::batch::{BatchEvent, BatchItem, BatchOptions, ItemOutcome, Report};
use crate::client::DeleteBySender;
use crate::purge::PurgeOptions;

use super::boundary::{self, Outcome};
use super::client::timrest_client;
use super::error::timrest_error;
use super::status::timrest_status;

/// What a successful call cost. Set `size` to `sizeof(timrest_call_info)` before the call.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct timrest_call_info {
    /// Set by the caller: `sizeof(timrest_call_info)`.
    pub size: usize,
    /// The `random` query parameter of the attempt that succeeded.
    pub random: u32,
    /// Requests sent (1 when the first attempt succeeded).
    pub attempts: u32,
    /// Time spent, waits and retries included, in microseconds.
    pub elapsed_us: u64,
}

/// One item of `timrest_delete_many`: a group, a sender, and optionally (non-NULL) a topic.
/// The strings are only read, during the call.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct timrest_item {
    /// The group ID.
    pub group_id: *const c_char,
    /// The UserID whose messages go.
    pub sender: *const c_char,
    /// A topic of a topic-enabled Community group, or NULL for the group itself.
    pub topic_id: *const c_char,
}

/// Settings of `timrest_delete_many`; pass NULL for the defaults. Set `size` to
/// `sizeof(timrest_batch_options)`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct timrest_batch_options {
    /// Set by the caller: `sizeof(timrest_batch_options)`.
    pub size: usize,
    /// Requests in flight at most, 1 to 1024 (0 means the default, 16).
    pub concurrency: u32,
    /// Stop scheduling new items after the first failure.
    pub stop_on_error: bool,
}

/// Settings of `timrest_purge_sender`; pass NULL for the defaults. Set `size` to
/// `sizeof(timrest_purge_options)`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct timrest_purge_options {
    /// Set by the caller: `sizeof(timrest_purge_options)`.
    pub size: usize,
    /// Requests in flight at most, 1 to 1024 (0 means the default, 16).
    pub concurrency: u32,
    /// Stop scheduling new deletions after the first failure.
    pub stop_on_error: bool,
    /// Do not delete inside the topics of topic-enabled Communities (false, the zero value, deletes
    /// in the topics too: every field's zero value is its default).
    pub skip_topics: bool,
    /// Groups per `get_joined_group_list` page, 1 to 5000 (0 means the default, 1000).
    pub page_size: u32,
    /// Only groups of these types (`"Public"`, `"Private"`/`"Work"`, `"ChatRoom"`/`"Meeting"`,
    /// `"Community"`, ...): an array of `n_group_types` strings, or NULL for every type.
    pub group_types: *const *const c_char,
    /// The number of strings in `group_types`.
    pub n_group_types: usize,
}

/// The outcome of one item, handed to the `timrest_on_result` callback. It and everything it
/// points to are valid only during the callback: copy what you keep.
#[repr(C)]
#[derive(Debug)]
pub struct timrest_item_result {
    /// `sizeof(timrest_item_result)` of the library: fields beyond it do not exist.
    pub size: usize,
    /// Position of the item: in `items` for `timrest_delete_many`, in the plan for
    /// `timrest_purge_sender`.
    pub index: usize,
    /// `TIMREST_OK`, or how the item failed (an item that could not be read fails alone, with
    /// `TIMREST_INVALID_ARGUMENT`).
    pub status: timrest_status,
    /// The group (NULL when the item could not be read).
    pub group_id: *const c_char,
    /// The sender (NULL when the item could not be read).
    pub sender: *const c_char,
    /// The topic, or NULL.
    pub topic_id: *const c_char,
    /// The `random` of the last attempt, or -1 when nothing was sent.
    pub random: i64,
    /// Requests sent for this item.
    pub attempts: u32,
    /// Time spent on this item, waits and retries included, in microseconds.
    pub elapsed_us: u64,
    /// The detail of the failure (read it with the `timrest_error_*` accessors; do not free it),
    /// or NULL on success.
    pub error: *const timrest_error,
}

/// Called with each item's outcome as the item finishes, exactly once per item, in the order
/// items finish, on the thread that called `timrest_delete_many` or `timrest_purge_sender`.
/// Return 0 to go on; anything else stops scheduling new items (the items in flight finish and
/// are reported too).
pub type timrest_on_result =
    Option<unsafe extern "C" fn(userdata: *mut c_void, result: *const timrest_item_result) -> c_int>;

/// Totals of a batch. Set `size` to `sizeof(timrest_batch_report)`; written only on success.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct timrest_batch_report {
    /// Set by the caller: `sizeof(timrest_batch_report)`.
    pub size: usize,
    /// Items that succeeded.
    pub ok: usize,
    /// Items that failed.
    pub failed: usize,
    /// Groups `timrest_purge_sender` left alone because their type keeps no history (0 for
    /// `timrest_delete_many`).
    pub skipped: usize,
    /// True when the batch stopped before its input ran out (`stop_on_error`, or the callback).
    pub stopped_early: bool,
    /// Wall-clock time of the whole batch, in microseconds.
    pub elapsed_us: u64,
}

/// The error for a `size` field smaller than the first version of its struct.
pub(crate) fn bad_size(name: &str, size: usize, expected: usize) -> Box<timrest_error> {
    timrest_error::c_layer(
        timrest_status::TIMREST_INVALID_ARGUMENT,
        format!("{name}->size is {size}: set it to sizeof the struct ({expected} in this library)"),
    )
}

/// Checks a sized struct argument: NULL is allowed when `optional`; otherwise its `size` must
/// hold the first version of the struct.
fn check_size(name: &str, size: Option<usize>, expected: usize) -> Outcome {
    match size {
        Some(size) if size < expected => Err(bad_size(name, size, expected)),
        _ => Ok(()),
    }
}

/// The `report_out` argument: not NULL, and its `size` holds the first version of the struct.
///
/// # Safety
/// `report_out` is NULL or valid for reading and writing a `timrest_batch_report` of `size` bytes.
unsafe fn report_arg(report_out: *mut timrest_batch_report) -> Outcome<*mut timrest_batch_report> {
    let report_out = boundary::out_arg("report_out", report_out)?;
    // SAFETY: not NULL, and valid by the caller's contract.
    check_size("report_out", Some(unsafe { (*report_out).size }), size_of::<timrest_batch_report>())?;
    Ok(report_out)
}

fn micros(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// The batch options of a C options struct: 0 means the default concurrency; the bound is the
/// core's to check ([`BatchOptions::check`]).
fn batch_options(concurrency: u32, stop_on_error: bool) -> BatchOptions {
    let concurrency = if concurrency == 0 { BatchOptions::default().concurrency } else { concurrency as usize };
    BatchOptions { concurrency, stop_on_error, ..BatchOptions::default() }
}

/// Like `timrest_delete_group_msg_by_sender`, and on success also writes what the call cost to
/// `*info_out` (when `info_out` is not NULL; set `info_out->size = sizeof(timrest_call_info)`
/// first, or the call fails with `TIMREST_INVALID_ARGUMENT` before sending anything).
///
/// Thread safe.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn timrest_delete_by_sender(
    client: *const timrest_client,
    group_id: *const c_char,
    sender: *const c_char,
    topic_id: *const c_char,
    info_out: *mut timrest_call_info,
    err_out: *mut *mut timrest_error,
) -> timrest_status {
    unsafe {
        boundary::guard("timrest_delete_by_sender", err_out, || {
            // SAFETY: NULL or valid for reading and writing a timrest_call_info of `size` bytes.
            let info_size = info_out.as_ref().map(|i| i.size);
            let size_ok = || check_size("info_out", info_size, size_of::<timrest_call_info>());
            let info = super::client::delete_by_sender(client, group_id, sender, topic_id, size_ok)?;
            if let Some(size) = info_size {
                // The caller's struct holds at least ours (checked): all of it is written, its size kept.
                let written = timrest_call_info {
                    size,
                    random: info.random,
                    attempts: info.attempts,
                    elapsed_us: micros(info.elapsed),
                };
                boundary::write_out(info_out, written);
            }
            Ok(())
        })
    }
}

/// One item of the C array as a request; a bad item fails alone, with the boundary's own words
/// for a NULL or a string that is not UTF-8.
///
/// # Safety
/// `item`'s strings are NULL or NUL-terminated and live during the call.
unsafe fn read_item(index: usize, item: &timrest_item) -> BatchItem {
    let read = || -> Outcome<DeleteBySender> {
        // SAFETY: by this function's contract.
        unsafe {
            let request = DeleteBySender::new(
                boundary::str_arg("group_id", item.group_id)?,
                boundary::str_arg("sender", item.sender)?,
            );
            Ok(match boundary::opt_str_arg("topic_id", item.topic_id)? {
                Some(topic) => request.topic(topic),
                None => request,
            })
        }
    };
    BatchItem(read().map_err(|e| crate::Error::invalid_argument(format!("items[{index}]: {}", e.text()))))
}

/// Hands one finished item to the C callback; true when the callback asked to stop.
///
/// # Safety
/// `on_result` is a valid function pointer (or None) and accepts `userdata`.
unsafe fn deliver(on_result: timrest_on_result, userdata: *mut c_void, outcome: &ItemOutcome) -> bool {
    let Some(callback) = on_result else { return false };
    let request = outcome.request.as_ref();
    let c = |s: Option<&str>| s.map(|s| CString::new(s.replace('\0', "\u{FFFD}")).unwrap_or_default());
    let group = c(request.map(|r| r.group_id.as_str()));
    let sender = c(request.map(|r| r.sender.as_str()));
    let topic = c(request.and_then(|r| r.topic_id.as_deref()));
    let error = outcome.result.as_ref().err().map(timrest_error::from_core);
    let result = timrest_item_result {
        size: size_of::<timrest_item_result>(),
        index: outcome.index,
        status: error.as_ref().map_or(timrest_status::TIMREST_OK, |e| e.status()),
        group_id: group.as_ref().map_or(std::ptr::null(), |s| s.as_ptr()),
        sender: sender.as_ref().map_or(std::ptr::null(), |s| s.as_ptr()),
        topic_id: topic.as_ref().map_or(std::ptr::null(), |s| s.as_ptr()),
        random: match &outcome.result {
            Ok(info) => i64::from(info.random),
            Err(e) => e.random().map_or(-1, i64::from),
        },
        attempts: outcome.attempts(),
        elapsed_us: micros(outcome.elapsed()),
        error: error.as_deref().map_or(std::ptr::null(), |e| e as *const timrest_error),
    };
    // SAFETY: a C function pointer the caller gave us, called with its own userdata and a result
    // that lives until it returns.
    unsafe { callback(userdata, &result) != 0 }
}

/// Runs a batch with the C callback as its observer, then writes the report.
///
/// # Safety
/// As [`deliver`]; `report_out` came from `out_arg` with a checked size.
unsafe fn run<F>(
    on_result: timrest_on_result,
    userdata: *mut c_void,
    report_out: *mut timrest_batch_report,
    batch: F,
) -> Outcome
where
    F: FnOnce(&mut dyn FnMut(BatchEvent<'_>) -> ControlFlow<()>) -> crate::Result<Report>,
{
    let mut observe = |event: BatchEvent<'_>| match event {
        // SAFETY: by this function's contract.
        BatchEvent::Finished(outcome, _) if unsafe { deliver(on_result, userdata, outcome) } => ControlFlow::Break(()),
        _ => ControlFlow::Continue(()),
    };
    let report = batch(&mut observe)?;
    // SAFETY: checked by the caller (not NULL, size at least ours).
    let size = unsafe { (*report_out).size };
    let written = timrest_batch_report {
        size,
        ok: report.ok(),
        failed: report.failed(),
        skipped: report.skipped.len(),
        stopped_early: report.stopped_early,
        elapsed_us: micros(report.elapsed),
    };
    unsafe { boundary::write_out(report_out, written) };
    Ok(())
}

/// Deletes by sender for each of the `n_items` items, `options->concurrency` at a time, sharing
/// the client's rate limiter (shared with other processes when it is on Redis) and retries.
/// Blocks until every scheduled item finished.
///
/// `on_result` (may be NULL) is called with each item's outcome as it finishes, exactly once per
/// item, on the calling thread, with `userdata`; returning non-zero stops scheduling (the items in
/// flight finish and are reported). An item that cannot be read (a NULL `group_id` or `sender`,
/// bad UTF-8) fails alone with `TIMREST_INVALID_ARGUMENT`. On success, `*report_out` holds the
/// totals (set `report_out->size = sizeof(timrest_batch_report)` first). The call itself fails
/// only for bad arguments: failed items are in the report.
///
/// Thread safe: batches on one client may run on several threads at once (they share its quota).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn timrest_delete_many(
    client: *const timrest_client,
    items: *const timrest_item,
    n_items: usize,
    options: *const timrest_batch_options,
    on_result: timrest_on_result,
    userdata: *mut c_void,
    report_out: *mut timrest_batch_report,
    err_out: *mut *mut timrest_error,
) -> timrest_status {
    unsafe {
        boundary::guard("timrest_delete_many", err_out, || {
            let client = boundary::ref_arg("client", client)?;
            if items.is_null() && n_items > 0 {
                return Err(boundary::null_argument("items"));
            }
            let options = options.as_ref();
            check_size("options", options.map(|o| o.size), size_of::<timrest_batch_options>())?;
            let report_out = report_arg(report_out)?;
            let batch = batch_options(options.map_or(0, |o| o.concurrency), options.is_some_and(|o| o.stop_on_error));
            let items: &[timrest_item] = if n_items == 0 { &[] } else { std::slice::from_raw_parts(items, n_items) };
            let requests = items.iter().enumerate().map(|(i, item)| read_item(i, item));
            run(on_result, userdata, report_out, |observe| {
                client.core().delete_many_with_events(requests, &batch, observe)
            })
        })
    }
}

/// Deletes what `sender` sent in every group it joined (`get_joined_group_list`, every page),
/// and in each topic of the topic-enabled Communities among them (`get_topic`), through the same
/// pool, limiter, retries and callback as `timrest_delete_many`. AVChatRoom and BChatRoom groups
/// keep no history: they are skipped and counted in `report_out->skipped`. A group dissolved
/// after it was listed fails alone with `TIMREST_GROUP_NOT_FOUND`.
///
/// Fails (and deletes nothing) when the arguments are bad or a listing call fails; otherwise
/// failed deletions are in the report. `options` may be NULL (every type, topics included,
/// concurrency 16).
///
/// Thread safe.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn timrest_purge_sender(
    client: *const timrest_client,
    sender: *const c_char,
    options: *const timrest_purge_options,
    on_result: timrest_on_result,
    userdata: *mut c_void,
    report_out: *mut timrest_batch_report,
    err_out: *mut *mut timrest_error,
) -> timrest_status {
    unsafe {
        boundary::guard("timrest_purge_sender", err_out, || {
            let client = boundary::ref_arg("client", client)?;
            let sender = boundary::str_arg("sender", sender)?;
            let options = options.as_ref();
            check_size("options", options.map(|o| o.size), size_of::<timrest_purge_options>())?;
            let report_out = report_arg(report_out)?;
            let mut purge = PurgeOptions::default();
            if let Some(o) = options {
                purge.batch = batch_options(o.concurrency, o.stop_on_error);
                purge.include_topics = !o.skip_topics;
                if o.page_size != 0 {
                    purge.page_size = o.page_size;
                }
                if !o.group_types.is_null() {
                    let names = std::slice::from_raw_parts(o.group_types, o.n_group_types);
                    let mut types = Vec::with_capacity(names.len());
                    for (i, name) in names.iter().enumerate() {
                        types.push(boundary::str_arg(&format!("options->group_types[{i}]"), *name)?.to_owned());
                    }
                    purge.group_types = Some(types);
                } else if o.n_group_types > 0 {
                    return Err(boundary::null_argument("options->group_types"));
                }
            }
            run(on_result, userdata, report_out, |observe| client.core().purge_sender(sender, &purge, observe))
        })
    }
}
