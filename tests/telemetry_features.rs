//! The cargo features `metrics` and `tracing`: what a real `metrics` recorder (metrics-util's
//! debugging recorder) and a real `tracing` subscriber see of calls to the emulator over loopback,
//! checked against the emulator's request log. Both are installed for the test's thread only, so
//! the tests of this file do not see each other's calls.
//!
//! `scripts/test-rust.sh` runs the suite with `--features emulator,metrics,tracing`.

#![cfg(all(feature = "metrics", feature = "tracing"))]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use timrest::emulator::{DEMO_SDKAPPID, DEMO_SECRET_KEY, Emulator, EmulatorConfig, Fault, GroupSpec};
use timrest::{Client, ErrorKind};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

const DELETE: &str = "delete_group_msg_by_sender";
const METHOD: &str = "group_open_http_svc/delete_group_msg_by_sender";

/// A span as the subscriber saw it: name, parent, every field recorded.
#[derive(Debug, Clone, Default)]
struct SeenSpan {
    id: u64,
    name: String,
    parent: Option<u64>,
    fields: HashMap<String, String>,
}

#[derive(Clone, Default)]
struct Spans(Arc<Mutex<Vec<SeenSpan>>>);

struct Fields<'a>(&'a mut HashMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Spans {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut span = SeenSpan { id: id.into_u64(), name: attrs.metadata().name().to_owned(), ..SeenSpan::default() };
        span.parent = ctx.span(id).and_then(|s| s.parent()).map(|p| p.id().into_u64());
        attrs.record(&mut Fields(&mut span.fields));
        self.0.lock().unwrap().push(span);
    }
    fn on_record(&self, id: &Id, values: &Record<'_>, _ctx: Context<'_, S>) {
        let mut spans = self.0.lock().unwrap();
        if let Some(span) = spans.iter_mut().rev().find(|s| s.id == id.into_u64()) {
            values.record(&mut Fields(&mut span.fields));
        }
    }
}

fn client(emu: &Emulator) -> Client {
    Client::builder()
        .sdkappid(DEMO_SDKAPPID)
        .secret_key(DEMO_SECRET_KEY)
        .base_url(emu.base_url())
        .rate_limit(Some(200.0))
        .build()
        .expect("client")
}

/// A metric as the recorder holds it: name, labels, value.
type Metric = (String, Vec<(String, String)>, DebugValue);

/// Runs `calls` with the recorder and the subscriber of this thread; what each saw.
fn observed(calls: impl FnOnce()) -> (Vec<SeenSpan>, Vec<Metric>) {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let spans = Spans::default();
    let subscriber = tracing_subscriber::registry().with(spans.clone());
    tracing::subscriber::with_default(subscriber, || metrics::with_local_recorder(&recorder, calls));
    let metrics = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let key = key.key();
            let labels = key.labels().map(|l| (l.key().to_owned(), l.value().to_owned())).collect();
            (key.name().to_owned(), labels, value)
        })
        .collect();
    let spans = spans.0.lock().unwrap().clone();
    (spans, metrics)
}

fn counter(metrics: &[Metric], name: &str, label: Option<(&str, &str)>) -> u64 {
    metrics
        .iter()
        .filter(|(n, labels, _)| {
            n == name && label.is_none_or(|(k, v)| labels.iter().any(|(lk, lv)| lk == k && lv == v))
        })
        .map(|(_, _, value)| match value {
            DebugValue::Counter(n) => *n,
            DebugValue::Histogram(values) => values.len() as u64,
            DebugValue::Gauge(g) => g.0 as u64,
        })
        .sum()
}

#[test]
fn spans_and_metrics_of_a_retried_call_and_a_failed_one_match_the_servers_log() {
    let emu = Emulator::start(EmulatorConfig { rate_limit: None, ..EmulatorConfig::default() }).expect("emulator");
    let group = emu.create_group(&GroupSpec::new("Public")).expect("group");
    emu.inject(DELETE, Fault::error_code(60007).times(2));
    let client = client(&emu);
    let (spans, metrics) = observed(|| {
        let app = tracing::info_span!("handle-report");
        let _entered = app.enter();
        client.delete_group_msg_by_sender(&group, "spammer").expect("two 60007, then success");
        let missing = client.delete_group_msg_by_sender("@TGS#missing", "spammer").expect_err("10010");
        assert_eq!(missing.kind(), ErrorKind::GroupNotFound);
    });
    let log: Vec<_> = emu.requests().into_iter().filter(|r| r.command == DELETE).collect();
    assert_eq!(log.len(), 4);

    let app = spans.iter().find(|s| s.name == "handle-report").expect("the app's span");
    let calls: Vec<&SeenSpan> = spans.iter().filter(|s| s.name == "timrest.call").collect();
    let attempts: Vec<&SeenSpan> = spans.iter().filter(|s| s.name == "POST").collect();
    assert_eq!((calls.len(), attempts.len()), (2, 4), "{spans:#?}");
    for call in &calls {
        assert_eq!(call.parent, Some(app.id), "the call span is a child of the current span");
        assert_eq!(call.fields["otel.name"], METHOD);
        assert_eq!(call.fields["otel.kind"], "client");
        assert_eq!(call.fields["rpc.system.name"], "tencent_im");
        assert_eq!(call.fields["rpc.method"], METHOD);
        assert_eq!(call.fields["server.address"], "127.0.0.1");
    }
    let (ok, failed) = (calls[0], calls[1]);
    assert!(!ok.fields.contains_key("otel.status_code") && !ok.fields.contains_key("error.type"));
    assert_eq!((ok.fields["rpc.status_code"].as_str(), ok.fields["timrest.attempts"].as_str()), ("0", "3"));
    assert_eq!(ok.fields["timrest.random"], log[2].random.unwrap().to_string());
    assert!(ok.fields.contains_key("timrest.limiter.wait"));
    assert_eq!(failed.fields["otel.status_code"], "error");
    assert_eq!(
        (failed.fields["error.type"].as_str(), failed.fields["rpc.status_code"].as_str()),
        ("group_not_found", "10010")
    );
    let randoms: Vec<String> = attempts.iter().map(|a| a.fields["timrest.random"].clone()).collect();
    let logged: Vec<String> = log.iter().map(|r| r.random.unwrap().to_string()).collect();
    assert_eq!(randoms, logged, "one attempt span per request, in order");
    let parents: Vec<Option<u64>> = attempts.iter().map(|a| a.parent).collect();
    assert_eq!(parents, [Some(ok.id), Some(ok.id), Some(ok.id), Some(failed.id)]);
    assert_eq!(attempts[0].fields["error.type"], "rate_limited");
    assert_eq!(attempts[0].fields["http.response.status_code"], "200");
    assert!(!attempts[0].fields.contains_key("http.request.resend_count"));
    assert_eq!(attempts[2].fields["http.request.resend_count"], "2");
    assert!(!attempts[2].fields.contains_key("error.type"));

    let stats = client.stats();
    assert_eq!(counter(&metrics, "timrest.client.attempts", None), stats.attempts);
    assert_eq!(counter(&metrics, "timrest.client.attempts", Some(("error.type", "rate_limited"))), 2);
    assert_eq!(counter(&metrics, "timrest.client.attempts", Some(("error.type", "group_not_found"))), 1);
    assert_eq!(counter(&metrics, "http.client.request.duration", Some(("rpc.method", METHOD))), 4);
    assert_eq!(counter(&metrics, "timrest.client.call.duration", None), 2);
    assert_eq!(counter(&metrics, "timrest.client.call.duration", Some(("rpc.status_code", "10010"))), 1);
    assert_eq!(
        counter(&metrics, "timrest.client.limiter.acquisitions", Some(("timrest.limiter.result", "acquired"))),
        4
    );
    assert_eq!(counter(&metrics, "timrest.client.limiter.wait.duration", None), stats.limiter_waits);
    assert_eq!(counter(&metrics, "timrest.client.connections.opened", None), stats.connections_opened);
    assert_eq!(counter(&metrics, "timrest.client.active_calls", None), 0, "every call that started ended");
}

#[test]
fn no_secret_or_id_reaches_a_span_or_a_metric_from_a_server_that_echoes_them() {
    let emu = Emulator::start(EmulatorConfig { rate_limit: None, ..EmulatorConfig::default() }).expect("emulator");
    let group = emu.create_group(&GroupSpec::new("Public")).expect("group");
    emu.inject(DELETE, Fault { echo_secrets: true, ..Fault::default() });
    let client = client(&emu);
    let (spans, metrics) = observed(|| {
        let error = client.delete_group_msg_by_sender(&group, "spammer").expect_err("10004");
        assert_eq!(error.code(), Some(10004));
    });
    let text = format!("{spans:?} {metrics:?}");
    assert!(text.contains("invalid_parameter"), "{text}");
    for forbidden in [DEMO_SECRET_KEY, "usersig", "eJ", &group, "spammer", "http://", "administrator"] {
        assert!(!text.contains(forbidden), "{forbidden} in {text}");
    }
}
