//! The job's report file: JSON lines, written as the job goes, read back by `resume`.
//!
//! ```text
//! {"timrest_job": {"version": 1, "job": "purge_senders", "sdkappid": …, "senders": […], "mute": true, …}}
//! {"account": "spam1", "group_id": null, "topic_id": null, "step": "mute", "outcome": "ok", "code": null, "detail": "", "recalled": 0}
//! {"plan": {"account": "spam1", "group_id": "@TGS#2…", "group_type": "Public", "topic_id": null}}
//! {"plan_complete": {"targets": 61}}
//! {"account": "spam1", "group_id": "@TGS#2…", "topic_id": null, "step": "delete", "outcome": "ok", …}
//! ```
//!
//! The first line says which job this is; `resume` refuses a report whose first line differs
//! from the job asked for (another job's report), and any line it cannot read (a corrupt report),
//! before writing anything. The plan lines come before the first write to a group, so a resumed
//! job cleans the groups it planned, even those its accounts were since removed from. A step line
//! is written, whole and at once, when the step ends; a line torn by a crash (the last one,
//! without its newline) is the only damage tolerated: it is dropped, and that step is redone.
//!
//! The file is locked (`flock`) while a job writes it: a second job on the same report is refused.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use super::job::{Outcome, Step, StepResult, Target};
use crate::error::{Error, ErrorKind, Result};

/// The version of the report format this library writes and reads.
pub const REPORT_VERSION: u64 = 1;
/// The longest report line we read (a step line is a few hundred bytes).
const MAX_LINE_BYTES: usize = 64 * 1024;

/// What a report said of an earlier run of the same job.
#[derive(Debug, Default)]
pub(crate) struct Earlier {
    /// The plan, when the earlier run wrote it whole.
    pub(crate) plan: Option<Vec<Target>>,
    /// The steps whose latest line says `ok`, by key.
    pub(crate) ok: HashMap<StepKey, StepResult>,
}

/// A step's identity in a job: account, group, topic, step.
pub(crate) type StepKey = (String, Option<String>, Option<String>, Step);

pub(crate) fn key_of(step: &StepResult) -> StepKey {
    (step.account.clone(), step.group_id.clone(), step.topic_id.clone(), step.step)
}

/// The open report of a running job.
pub(crate) struct ReportFile {
    file: File,
    path: PathBuf,
}

fn io_error(path: &Path, what: &str, e: &std::io::Error) -> Error {
    Error::invalid_argument(format!("report {}: {what}: {e}", path.display()))
}

/// Takes an exclusive, non-blocking lock on the whole file: one job per report (std's lock:
/// `flock` on Unix, `LockFileEx` on Windows).
fn lock(file: &File, path: &Path) -> Result<()> {
    match file.try_lock() {
        Ok(()) => Ok(()),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::invalid_argument(format!(
            "report {} is in use by another running job; wait for it to end",
            path.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(io_error(path, "cannot lock it", &e)),
    }
}

impl ReportFile {
    /// Creates a new report holding `header`; an existing file is refused, never overwritten.
    pub(crate) fn create(path: &Path, header: &Value) -> Result<ReportFile> {
        let file = OpenOptions::new().write(true).create_new(true).open(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                Error::invalid_argument(format!(
                    "report {} already exists: resume it (resume=True, --resume) or give another path",
                    path.display()
                ))
            } else {
                io_error(path, "cannot create it", &e)
            }
        })?;
        lock(&file, path)?;
        let mut report = ReportFile { file, path: path.to_owned() };
        report.write_value(&json!({ "timrest_job": header }))?;
        Ok(report)
    }

    /// Opens an earlier report of the same job to go on with it: reads and checks it whole, then
    /// drops a torn last line, and only then is anything written.
    pub(crate) fn resume(path: &Path, header: &Value) -> Result<(ReportFile, Earlier)> {
        let mut file = OpenOptions::new().read(true).write(true).open(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::invalid_argument(format!(
                    "nothing to resume: report {} does not exist (check the path, or run without resume)",
                    path.display()
                ))
            } else {
                io_error(path, "cannot open it", &e)
            }
        })?;
        lock(&file, path)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(|e| io_error(path, "cannot read it", &e))?;
        let (earlier, keep) = read(&bytes, header).map_err(|why| {
            Error::invalid_argument(format!("report {} cannot be resumed: {why}; nothing was changed", path.display()))
        })?;
        if keep < bytes.len() {
            file.set_len(keep as u64).map_err(|e| io_error(path, "cannot drop its torn last line", &e))?;
        }
        file.seek(SeekFrom::End(0)).map_err(|e| io_error(path, "cannot seek", &e))?;
        Ok((ReportFile { file, path: path.to_owned() }, earlier))
    }

    fn write_value(&mut self, value: &Value) -> Result<()> {
        let mut line = serde_json::to_vec(value).map_err(|e| Error::invalid_argument(format!("report line: {e}")))?;
        line.push(b'\n');
        // One write per line: a crash leaves whole lines, or a torn last one.
        self.file.write_all(&line).map_err(|e| {
            Error::new(ErrorKind::InvalidArgument, format!("report {}: cannot write: {e}", self.path.display()))
        })
    }

    /// Appends one step as it ended.
    pub(crate) fn step(&mut self, step: &StepResult) -> Result<()> {
        self.write_value(&step.to_json())
    }

    /// Appends the plan, then the line that says it is whole.
    pub(crate) fn plan(&mut self, targets: &[Target]) -> Result<()> {
        let mut chunk = Vec::new();
        for t in targets {
            let line = json!({"plan": {"account": t.account, "group_id": t.group_id,
                                        "group_type": t.group_type, "topic_id": t.topic_id}});
            serde_json::to_writer(&mut chunk, &line).map_err(|e| Error::invalid_argument(format!("report: {e}")))?;
            chunk.push(b'\n');
        }
        self.file.write_all(&chunk).map_err(|e| io_error(&self.path, "cannot write the plan", &e))?;
        self.write_value(&json!({"plan_complete": {"targets": targets.len()}}))
    }

    /// Flushes what was written to the disk.
    pub(crate) fn sync(&mut self) {
        let _ = self.file.sync_data();
    }
}

/// Reads a report's bytes against the job's header: what the earlier run did, and how many bytes
/// to keep (all but a torn last line). `Err` says why the report cannot be resumed.
pub(crate) fn read(bytes: &[u8], header: &Value) -> std::result::Result<(Earlier, usize), String> {
    let mut earlier = Earlier::default();
    let mut plan: Vec<Target> = Vec::new();
    let mut offset = 0usize;
    let mut number = 0usize;
    let mut seen_header = false;
    while offset < bytes.len() {
        let rest = &bytes[offset..];
        let (line, next, whole) = match memchr::memchr(b'\n', rest) {
            Some(end) => (&rest[..end], offset + end + 1, true),
            None => (rest, bytes.len(), false),
        };
        number += 1;
        let parsed = if line.len() > MAX_LINE_BYTES {
            Err(format!("line {number} is over {MAX_LINE_BYTES} bytes"))
        } else {
            serde_json::from_slice::<Value>(line).map_err(|e| format!("line {number} is not JSON ({e})"))
        };
        let value = match parsed {
            Ok(v) => v,
            // The last line without its newline: torn by a crash while it was written. (A plan
            // without its `plan_complete` line is planned again: nothing was cleaned under it.)
            Err(_) if !whole && seen_header => return Ok((earlier, offset)),
            Err(why) => return Err(why),
        };
        let Some(object) = value.as_object() else { return Err(format!("line {number} is not a JSON object")) };
        if !seen_header {
            let Some(found) = object.get("timrest_job") else {
                return Err("its first line is not a timrest job header: this is not a job report".into());
            };
            if found != header {
                return Err(format!("it is the report of another job ({})", differences(found, header)));
            }
            seen_header = true;
        } else if let Some(item) = object.get("plan") {
            plan.push(Target::from_json(item).ok_or_else(|| format!("line {number}: a plan line without its fields"))?);
        } else if let Some(done) = object.get("plan_complete") {
            let count = done.get("targets").and_then(Value::as_u64);
            if count != Some(plan.len() as u64) {
                return Err(format!("line {number}: the plan says {count:?} targets but lists {}", plan.len()));
            }
            earlier.plan = Some(std::mem::take(&mut plan));
        } else {
            let step = StepResult::from_json(object).ok_or_else(|| format!("line {number} is not a step of a job"))?;
            let key = key_of(&step);
            if step.outcome == Outcome::Ok {
                earlier.ok.insert(key, step);
            } else {
                earlier.ok.remove(&key);
            }
        }
        offset = next;
    }
    if !seen_header {
        return Err("it is empty: this is not a job report".into());
    }
    Ok((earlier, bytes.len()))
}

/// What differs between a report's header and this job's: `field: X there, Y here; …`.
fn differences(found: &Value, wanted: &Value) -> String {
    let (Some(found), Some(wanted)) = (found.as_object(), wanted.as_object()) else {
        return format!("its header is {found}");
    };
    let mut keys: Vec<&String> = found.keys().chain(wanted.keys()).collect();
    keys.sort();
    keys.dedup();
    let shown = |v: Option<&Value>| v.map_or_else(|| "absent".to_owned(), Value::to_string);
    keys.into_iter()
        .filter(|k| found.get(*k) != wanted.get(*k))
        .map(|k| format!("{k}: {} there, {} here", shown(found.get(k)), shown(wanted.get(k))))
        .collect::<Vec<_>>()
        .join("; ")
}

impl Target {
    fn from_json(value: &Value) -> Option<Target> {
        let text = |name: &str| value.get(name).and_then(Value::as_str).map(str::to_owned);
        let topic_id = match value.get("topic_id")? {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            _ => return None,
        };
        Some(Target {
            account: text("account")?,
            group_id: text("group_id")?,
            group_type: text("group_type")?,
            topic_id,
        })
    }
}

impl StepResult {
    /// The step as its report line: `account`, `group_id`, `topic_id`, `step`, `outcome`,
    /// `code`, `detail`, `recalled`.
    pub fn to_json(&self) -> Value {
        let mut line = Map::new();
        line.insert("account".into(), json!(self.account));
        line.insert("group_id".into(), json!(self.group_id));
        line.insert("topic_id".into(), json!(self.topic_id));
        line.insert("step".into(), json!(self.step.name()));
        line.insert("outcome".into(), json!(self.outcome.name()));
        line.insert("code".into(), json!(self.code));
        line.insert("detail".into(), json!(self.detail));
        line.insert("recalled".into(), json!(self.recalled));
        Value::Object(line)
    }

    fn from_json(object: &Map<String, Value>) -> Option<StepResult> {
        let optional = |name: &str| match object.get(name) {
            Some(Value::Null) => Some(None),
            Some(Value::String(s)) => Some(Some(s.clone())),
            _ => None,
        };
        let code = match object.get("code")? {
            Value::Null => None,
            v => Some(v.as_i64()?),
        };
        Some(StepResult {
            account: object.get("account")?.as_str()?.to_owned(),
            group_id: optional("group_id")?,
            topic_id: optional("topic_id")?,
            step: Step::from_name(object.get("step")?.as_str()?)?,
            outcome: Outcome::from_name(object.get("outcome")?.as_str()?)?,
            code,
            detail: object.get("detail")?.as_str()?.to_owned(),
            recalled: object.get("recalled")?.as_u64()?,
            error_kind: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Value {
        json!({"version": 1, "job": "purge_senders", "senders": ["a"]})
    }

    fn step_line(outcome: &str) -> String {
        format!(
            "{{\"account\":\"a\",\"group_id\":\"g\",\"topic_id\":null,\"step\":\"delete\",\"outcome\":\"{outcome}\",\"code\":null,\"detail\":\"\",\"recalled\":0}}\n"
        )
    }

    #[test]
    fn a_report_is_read_back_with_its_latest_outcomes() {
        let text = format!(
            "{{\"timrest_job\":{}}}\n{{\"plan\":{{\"account\":\"a\",\"group_id\":\"g\",\"group_type\":\"Public\",\"topic_id\":null}}}}\n{{\"plan_complete\":{{\"targets\":1}}}}\n{}{}",
            header(),
            step_line("failed"),
            step_line("ok")
        );
        let (earlier, keep) = read(text.as_bytes(), &header()).unwrap();
        assert_eq!(keep, text.len());
        assert_eq!(earlier.plan.unwrap().len(), 1);
        assert_eq!(earlier.ok.len(), 1);
    }

    #[test]
    fn only_a_torn_last_line_is_forgiven() {
        let whole = format!("{{\"timrest_job\":{}}}\n{}", header(), step_line("ok"));
        let torn = format!("{whole}{{\"account\":\"a\",\"gro");
        let (earlier, keep) = read(torn.as_bytes(), &header()).unwrap();
        assert_eq!((keep, earlier.ok.len(), earlier.plan.is_none()), (whole.len(), 1, true));
        let middle = format!("{{\"timrest_job\":{}}}\n{{\"account\":\"a\",\"gro\n{}", header(), step_line("ok"));
        assert!(read(middle.as_bytes(), &header()).unwrap_err().contains("line 2"));
    }

    #[test]
    fn another_jobs_report_or_no_report_is_refused() {
        let other = format!("{{\"timrest_job\":{}}}\n", json!({"version": 1, "senders": ["b"]}));
        assert!(read(other.as_bytes(), &header()).unwrap_err().contains("another job"));
        assert!(read(b"", &header()).unwrap_err().contains("empty"));
        assert!(
            read(b"{\"group_id\":\"g\",\"sender\":\"a\",\"ok\":true}\n", &header())
                .unwrap_err()
                .contains("not a job report")
        );
        let bad_plan = format!("{{\"timrest_job\":{}}}\n{{\"plan_complete\":{{\"targets\":3}}}}\n", header());
        assert!(read(bad_plan.as_bytes(), &header()).unwrap_err().contains("targets"));
    }
}
