//! The cargo feature `tracing`: a span per call (`timrest.call`, INFO) with a child span per
//! attempt (`POST`), whose fields carry OTel's names, so that `tracing-opentelemetry` maps them as
//! they are: `otel.name` (`group_open_http_svc/delete_group_msg_by_sender`), `otel.kind`
//! (`client`), `otel.status_code` (`error` on failure), `rpc.system.name`, `rpc.method`,
//! `rpc.status_code` (TIM's `ErrorCode`), `error.type` (the kind name), `server.address`,
//! `server.port`, `timrest.random`, `timrest.attempts`, `timrest.limiter.wait`; and on attempts
//! `http.request.method`, `http.response.status_code`, `http.request.resend_count`.
//!
//! The call span is a child of the span current where the call is made. Status and `error.type`
//! come from TIM's code, not the HTTP status (TIM answers 200 with an error code), and a retried
//! error that ends in success leaves the call's status unset. Never a secret, a URL, or an
//! account or group id.

use std::time::Duration;

use tracing::Span;
use tracing::field::Empty;

use super::Event;

/// The span of one call, entered by the caller for the call's length.
pub(crate) fn call_span(service: &str, command: &str, server_address: &str, server_port: u16) -> Span {
    tracing::info_span!(
        target: "timrest",
        "timrest.call",
        otel.name = %format_args!("{service}/{command}"),
        otel.kind = "client",
        otel.status_code = Empty,
        rpc.system.name = "tencent_im",
        rpc.method = %format_args!("{service}/{command}"),
        rpc.status_code = Empty,
        error.type = Empty,
        server.address = server_address,
        server.port = server_port,
        timrest.random = Empty,
        timrest.attempts = Empty,
        timrest.limiter.wait = Empty,
    )
}

/// The span of one attempt: a child of the call's (the current span).
pub(crate) fn attempt_span(attempt: u32, random: u32, server_address: &str, server_port: u16) -> Span {
    let span = tracing::info_span!(
        target: "timrest",
        "POST",
        otel.kind = "client",
        otel.status_code = Empty,
        http.request.method = "POST",
        http.response.status_code = Empty,
        http.request.resend_count = Empty,
        rpc.status_code = Empty,
        error.type = Empty,
        server.address = server_address,
        server.port = server_port,
        timrest.random = random,
    );
    if attempt > 1 {
        span.record("http.request.resend_count", attempt - 1);
    }
    span
}

/// Records the outcome of an attempt or a call (its event) on its span.
pub(crate) fn finish(span: &Span, e: &Event<'_>) {
    if let Some(code) = e.code {
        span.record("rpc.status_code", tracing::field::display(code));
    }
    if let Some(kind) = e.error_kind {
        span.record("error.type", kind.name());
        span.record("otel.status_code", "error");
    }
    if let Some(status) = e.http_status.filter(|s| *s > 0) {
        span.record("http.response.status_code", status);
    }
    if e.kind == super::EventKind::Call {
        if let Some(random) = e.random {
            span.record("timrest.random", random);
        }
        if let Some(attempts) = e.attempt {
            span.record("timrest.attempts", attempts);
        }
    }
}

/// The call's time waiting for the limiter so far, seconds.
pub(crate) fn waited(span: &Span, total: Duration) {
    span.record("timrest.limiter.wait", total.as_secs_f64());
}
