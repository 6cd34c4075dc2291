//! The cargo feature `metrics`: every client's events as observations of the `metrics` 0.24 facade,
//! under the instrument names and attributes of the observability spec (OTel's names; exporters
//! such as `metrics-exporter-prometheus` render `timrest.client.call.duration` as
//! `timrest_client_call_duration`, with the unit from its description).
//!
//! The labels are bounded: command, host, status, kind names. Never an account or group id, a
//! URL, a `random` or a secret.

use std::sync::Once;

use metrics::{Label, Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};

use super::{Event, EventKind};

/// Describes the instruments to the recorder installed now (once per process: install the
/// recorder before building clients, as every recorder's docs ask).
pub(crate) fn describe() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        describe_histogram!(
            "timrest.client.call.duration",
            Unit::Seconds,
            "Duration of a logical call: limiter waits, every attempt and the backoff between them"
        );
        describe_histogram!("http.client.request.duration", Unit::Seconds, "Duration of HTTP client requests");
        describe_counter!("timrest.client.attempts", Unit::Count, "Requests sent, each attempt of a call");
        describe_histogram!(
            "timrest.client.limiter.wait.duration",
            Unit::Seconds,
            "Time a call waited for the rate limiter"
        );
        describe_counter!("timrest.client.limiter.acquisitions", Unit::Count, "Rate limiter acquisitions by result");
        describe_gauge!("timrest.client.limiter.rate", "The effective rate of a limiter lane, requests per second");
        describe_counter!("timrest.client.limiter.adjustments", Unit::Count, "Adaptive changes of a lane's rate");
        describe_counter!(
            "timrest.client.limiter.backend.errors",
            Unit::Count,
            "Failed exchanges with the shared limiter"
        );
        describe_gauge!("timrest.client.limiter.fallback.active", "1 while the shared limiter is out");
        describe_counter!("timrest.client.connections.opened", Unit::Count, "New TCP/TLS connections");
        describe_gauge!("timrest.client.active_calls", Unit::Count, "Calls in progress");
    });
}

fn method(e: &Event<'_>) -> Label {
    Label::new("rpc.method", format!("{}/{}", e.service, e.command))
}

fn seconds(e: &Event<'_>) -> f64 {
    e.duration.map_or(0.0, |d| d.as_secs_f64())
}

/// A call started (there is no event for it: its first step may come after a long wait).
pub(crate) fn call_started(service: &str, command: &str) {
    gauge!("timrest.client.active_calls", "rpc.method" => format!("{service}/{command}")).increment(1.0);
}

/// One event's observations.
pub(crate) fn record(e: &Event<'_>) {
    match e.kind {
        EventKind::Attempt => {
            let mut labels = vec![
                Label::new("http.request.method", "POST"),
                Label::new("server.address", e.server_address.to_owned()),
                Label::new("server.port", e.server_port.to_string()),
                method(e),
            ];
            if let Some(status) = e.http_status.filter(|s| *s > 0) {
                labels.push(Label::new("http.response.status_code", status.to_string()));
            }
            let mut counted = vec![method(e)];
            if let Some(kind) = e.error_kind {
                labels.push(Label::new("error.type", kind.name()));
                counted.push(Label::new("error.type", kind.name()));
            }
            histogram!("http.client.request.duration", labels).record(seconds(e));
            counter!("timrest.client.attempts", counted).increment(1);
        }
        EventKind::Call => {
            let mut labels = vec![method(e), Label::new("server.address", e.server_address.to_owned())];
            if let Some(code) = e.code {
                labels.push(Label::new("rpc.status_code", code.to_string()));
            }
            if let Some(kind) = e.error_kind {
                labels.push(Label::new("error.type", kind.name()));
            }
            histogram!("timrest.client.call.duration", labels).record(seconds(e));
            gauge!("timrest.client.active_calls", vec![method(e)]).decrement(1.0);
        }
        EventKind::LimiterWait => {
            let backend = Label::new("timrest.limiter.backend", e.limiter_backend.unwrap_or("local"));
            histogram!("timrest.client.limiter.wait.duration", vec![method(e), backend]).record(seconds(e));
            counter!("timrest.client.limiter.acquisitions", "timrest.limiter.result" => "acquired").increment(1);
        }
        EventKind::LimiterRefused => {
            let result = if e.error_kind == Some(crate::ErrorKind::Timeout) { "deadline" } else { "unavailable" };
            counter!("timrest.client.limiter.acquisitions", "timrest.limiter.result" => result).increment(1);
        }
        EventKind::RateAdapted => {
            counter!("timrest.client.limiter.adjustments", "direction" => "down").increment(1);
            if let Some(rate) = e.rate {
                gauge!("timrest.client.limiter.rate", vec![method(e)]).set(rate);
            }
        }
        EventKind::BackendError => counter!("timrest.client.limiter.backend.errors").increment(1),
        EventKind::FallbackEntered => gauge!("timrest.client.limiter.fallback.active").increment(1.0),
        EventKind::FallbackLeft => gauge!("timrest.client.limiter.fallback.active").decrement(1.0),
        EventKind::ConnectionOpened => {
            counter!("timrest.client.connections.opened", "server.address" => e.server_address.to_owned()).increment(1);
        }
    }
}
