//! Unit tests of the registry: exact renders, bounds, slot overflow, concurrency, promtool.
//! (The cost of `observe` is measured in `cost.rs`.)

use super::*;
use crate::record::Protocol;
use std::sync::Arc;

/// A request on route `route_id` answered `status` over `protocol` in `micros`.
pub(super) fn rec(route_id: usize, status: u16, protocol: Protocol, micros: u64) -> Record<'static> {
    Record {
        method: "POST",
        route: "",
        route_id,
        status,
        protocol,
        duration: Duration::from_micros(micros),
        bytes_in: 0,
        bytes_out: 0,
        request_id: None,
        probe: false,
    }
}

/// Everything but the process families.
pub(super) fn own(m: &Metrics, in_flight: usize) -> String {
    let mut out = String::new();
    m.render_own(in_flight, &mut out);
    out
}

/// The value of the one sample line named `series` (name and braces, as rendered).
pub(super) fn value(out: &str, series: &str) -> u64 {
    let found: Vec<&str> = out
        .lines()
        .filter_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .collect();
    assert_eq!(found.len(), 1, "{series} in:\n{out}");
    found[0].parse().unwrap()
}

/// A histogram series as it must render, from its cumulative counts written out.
fn hist(name: &str, labels: &str, cumulative: [u64; 15], sum: &str) -> String {
    let les = [
        "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5",
    ];
    let les = les.iter().chain(&["1", "2.5", "5", "10", "+Inf"]);
    let mut s = String::new();
    for (le, n) in les.zip(cumulative) {
        s += &format!("{name}_bucket{{{labels},le=\"{le}\"}} {n}\n");
    }
    s + &format!(
        "{name}_sum{{{labels}}} {sum}\n{name}_count{{{labels}}} {}\n",
        cumulative[14]
    )
}

#[test]
fn a_fixed_sequence_renders_exact_counts_and_cumulative_buckets() {
    let m = Metrics::new(vec!["/b".into(), "/a".into()]);
    m.observe(&rec(0, 200, Protocol::Http1, 1_000));
    m.observe(&rec(0, 200, Protocol::Http1, 3_000));
    m.observe(&rec(0, 503, Protocol::Http1, 20_000_000));
    m.observe(&rec(1, 200, Protocol::Grpc, 250));
    m.observe(&rec(7, 404, Protocol::Http1, 100));
    m.shed(Shed::InFlight);
    m.shed(Shed::InFlight);
    m.shed(Shed::Draining);
    (0..3).for_each(|_| m.connection_opened());
    m.connection_closed();
    m.client_call("go.micro.srv.b", "Svc.Get", 200, Duration::from_millis(40));
    m.client_call("go.micro.srv.b", "Svc.Get", 503, Duration::from_millis(2));
    m.client_retry("go.micro.srv.b", "Svc.Get");
    m.client_retry("go.micro.srv.a", "Svc.Put");

    let d = "micro_server_request_duration_seconds";
    let c = "micro_client_call_duration_seconds";
    let b_get = r#"service="go.micro.srv.b",endpoint="Svc.Get""#;
    // Cumulative: 1 ms, 3 ms, 20 s on /b; 2 ms, 40 ms on Svc.Get.
    let b_http1 = [0, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3];
    let get = [0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2];
    let expected = [
        "# HELP micro_server_requests_total Requests answered, by route pattern, status code and protocol.\n",
        "# TYPE micro_server_requests_total counter\n",
        "micro_server_requests_total{route=\"/a\",code=\"200\",protocol=\"grpc\"} 1\n",
        "micro_server_requests_total{route=\"/b\",code=\"200\",protocol=\"http1\"} 2\n",
        "micro_server_requests_total{route=\"/b\",code=\"503\",protocol=\"http1\"} 1\n",
        "micro_server_requests_total{route=\"unmatched\",code=\"404\",protocol=\"http1\"} 1\n",
        "# HELP micro_server_request_duration_seconds Time from a request's first byte to its answer's last, \
         by route pattern and protocol.\n",
        "# TYPE micro_server_request_duration_seconds histogram\n",
        &hist(d, "route=\"/a\",protocol=\"grpc\"", [1; 15], "0.000250"),
        &hist(d, "route=\"/b\",protocol=\"http1\"", b_http1, "20.004000"),
        &hist(d, "route=\"unmatched\",protocol=\"http1\"", [1; 15], "0.000100"),
        "# HELP micro_server_requests_in_flight Requests being handled now.\n",
        "# TYPE micro_server_requests_in_flight gauge\n",
        "micro_server_requests_in_flight 5\n",
        "# HELP micro_server_connections Open client connections.\n",
        "# TYPE micro_server_connections gauge\n",
        "micro_server_connections 2\n",
        "# HELP micro_server_shed_total Requests or connections refused under load or in a drain, by \
         reason.\n",
        "# TYPE micro_server_shed_total counter\n",
        "micro_server_shed_total{reason=\"connections\"} 0\n",
        "micro_server_shed_total{reason=\"draining\"} 1\n",
        "micro_server_shed_total{reason=\"in_flight\"} 2\n",
        "# HELP micro_client_calls_total Outbound calls, by service, endpoint and status code (for a \
         transport failure, its error's status).\n",
        "# TYPE micro_client_calls_total counter\n",
        &format!("micro_client_calls_total{{{b_get},code=\"200\"}} 1\n"),
        &format!("micro_client_calls_total{{{b_get},code=\"503\"}} 1\n"),
        "# HELP micro_client_call_duration_seconds Outbound call duration, by service and endpoint.\n",
        "# TYPE micro_client_call_duration_seconds histogram\n",
        &hist(c, b_get, get, "0.042000"),
        "# HELP micro_client_retries_total Outbound calls retried, by service and endpoint.\n",
        "# TYPE micro_client_retries_total counter\n",
        "micro_client_retries_total{service=\"go.micro.srv.a\",endpoint=\"Svc.Put\"} 1\n",
        &format!("micro_client_retries_total{{{b_get}}} 1\n"),
    ]
    .concat();
    let out = own(&m, 5);
    assert_eq!(out, expected, "\n--- got:\n{out}");
    assert_eq!(own(&m, 5), out, "a given state renders the same bytes");
}

#[test]
fn an_empty_registry_renders_headers_and_the_fixed_series() {
    let out = own(&Metrics::new(Vec::new()), 0);
    let samples: Vec<&str> = out.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(
        samples,
        [
            "micro_server_requests_in_flight 0",
            "micro_server_connections 0",
            "micro_server_shed_total{reason=\"connections\"} 0",
            "micro_server_shed_total{reason=\"draining\"} 0",
            "micro_server_shed_total{reason=\"in_flight\"} 0",
        ]
    );
    assert_eq!(out.matches("# TYPE ").count(), 8, "every family announced once");
}

#[test]
fn label_values_are_escaped() {
    let m = Metrics::new(vec![
        "/q\"uote".into(),
        "/back\\slash".into(),
        "/new\nline".into(),
    ]);
    (0..3).for_each(|i| m.observe(&rec(i, 200, Protocol::Http2, 1)));
    m.client_call("svc\"x", "a\\b\nc", 200, Duration::ZERO);
    let out = own(&m, 0);
    for series in [
        r#"micro_server_requests_total{route="/q\"uote",code="200",protocol="http2"}"#,
        r#"micro_server_requests_total{route="/back\\slash",code="200",protocol="http2"}"#,
        r#"micro_server_requests_total{route="/new\nline",code="200",protocol="http2"}"#,
        r#"micro_client_calls_total{service="svc\"x",endpoint="a\\b\nc",code="200"}"#,
        r#"micro_client_call_duration_seconds_count{service="svc\"x",endpoint="a\\b\nc"}"#,
    ] {
        assert_eq!(value(&out, series), 1);
    }
    assert!(
        out.lines().all(|l| !l.is_empty()),
        "no raw newline split a line:\n{out}"
    );
}

#[test]
fn unknown_route_ids_and_the_unmatched_label_share_one_series() {
    let m = Metrics::new(vec!["/a".into(), "unmatched".into(), "/a".into()]);
    m.observe(&rec(1, 404, Protocol::Http1, 1));
    m.observe(&rec(3, 404, Protocol::Http1, 1));
    m.observe(&rec(usize::MAX, 404, Protocol::Http1, 1));
    m.observe(&rec(0, 200, Protocol::Http1, 1));
    m.observe(&rec(2, 200, Protocol::Http1, 1));
    let out = own(&m, 0);
    assert_eq!(
        value(
            &out,
            r#"micro_server_requests_total{route="unmatched",code="404",protocol="http1"}"#
        ),
        3
    );
    assert_eq!(
        value(
            &out,
            r#"micro_server_requests_total{route="/a",code="200",protocol="http1"}"#
        ),
        2
    );
    assert_eq!(out.matches("micro_server_requests_total{").count(), 2);
}

#[test]
fn client_labels_are_bounded() {
    let m = Metrics::new(Vec::new());
    for i in 0..calls::MAX_PAIRS + 10 {
        m.client_call(&format!("svc{i}"), "E.P", 200, Duration::from_millis(1));
    }
    m.client_call("svc0", "E.P", 200, Duration::from_millis(1));
    m.client_retry("svc0", "E.P");
    m.client_retry("late", "E.P");
    m.client_call("other", "other", 503, Duration::from_millis(1));
    let out = own(&m, 0);
    assert_eq!(
        out.matches("micro_client_calls_total{").count(),
        calls::MAX_PAIRS + 2,
        "+ other's two codes"
    );
    assert_eq!(
        value(
            &out,
            r#"micro_client_calls_total{service="svc0",endpoint="E.P",code="200"}"#
        ),
        2
    );
    let other = r#"service="other",endpoint="other""#;
    assert_eq!(
        value(&out, &format!("micro_client_calls_total{{{other},code=\"200\"}}")),
        10
    );
    assert_eq!(
        value(&out, &format!("micro_client_calls_total{{{other},code=\"503\"}}")),
        1
    );
    assert_eq!(
        value(
            &out,
            &format!("micro_client_call_duration_seconds_count{{{other}}}")
        ),
        11
    );
    assert_eq!(value(&out, &format!("micro_client_retries_total{{{other}}}")), 1);
    assert_eq!(
        value(
            &out,
            r#"micro_client_retries_total{service="svc0",endpoint="E.P"}"#
        ),
        1
    );
    assert_eq!(
        out.matches("micro_client_retries_total{").count(),
        calls::MAX_PAIRS + 1
    );
}

#[test]
fn codes_past_the_slots_still_count_exactly() {
    let m = Metrics::new(vec!["/a".into()]);
    let codes: Vec<u16> = (0..12).map(|i| 200 + i).chain([0]).collect();
    for (i, &code) in codes.iter().enumerate() {
        (0..=i).for_each(|_| m.observe(&rec(0, code, Protocol::Grpc, 10)));
    }
    let out = own(&m, 0);
    for (i, code) in codes.iter().enumerate() {
        let series = format!("micro_server_requests_total{{route=\"/a\",code=\"{code}\",protocol=\"grpc\"}}");
        assert_eq!(value(&out, &series), i as u64 + 1);
    }
    assert!(codes.len() > requests::SLOTS);
    let total = (codes.len() * (codes.len() + 1) / 2) as u64;
    assert_eq!(
        value(
            &out,
            r#"micro_server_request_duration_seconds_count{route="/a",protocol="grpc"}"#
        ),
        total
    );
    let first = out.find("code=\"0\"").unwrap();
    assert!(
        first < out.find("code=\"200\"").unwrap(),
        "codes sorted, overflow merged in"
    );
}

#[test]
fn observes_from_four_threads_sum_exactly() {
    const PER_THREAD: u64 = 50_000;
    let m = Arc::new(Metrics::new(vec!["/a".into()]));
    let codes: [u16; 10] = [200, 201, 204, 400, 401, 403, 404, 409, 500, 503];
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let m = m.clone();
            std::thread::spawn(move || {
                for i in 0..PER_THREAD {
                    let code = codes[((i + t) % 10) as usize];
                    m.observe(&rec(0, code, Protocol::Http1, (i % 4) * 1_000));
                }
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    let out = own(&m, 0);
    for code in codes {
        let series =
            format!("micro_server_requests_total{{route=\"/a\",code=\"{code}\",protocol=\"http1\"}}");
        assert_eq!(
            value(&out, &series),
            4 * PER_THREAD / 10,
            "each code in one series, counted whole"
        );
    }
    let labels = r#"route="/a",protocol="http1""#;
    let bucket = |le: &str| {
        value(
            &out,
            &format!("micro_server_request_duration_seconds_bucket{{{labels},le=\"{le}\"}}"),
        )
    };
    assert_eq!(bucket("0.0005"), PER_THREAD, "the 0 ms quarter");
    assert_eq!(bucket("0.001"), 2 * PER_THREAD);
    assert_eq!(bucket("0.0025"), 3 * PER_THREAD);
    assert_eq!(bucket("+Inf"), 4 * PER_THREAD);
    let sum = out.lines().find_map(|l| {
        l.strip_prefix(&format!(
            "{d}_sum{{{labels}}} ",
            d = "micro_server_request_duration_seconds"
        ))
    });
    assert_eq!(
        sum,
        Some("300.000000"),
        "a quarter of 200000 each at 0, 1, 2, 3 ms"
    );
}

#[test]
fn metrics_are_shared_across_threads() {
    fn shared<T: Send + Sync>() {}
    shared::<Metrics>();
}

#[test]
fn promtool_accepts_the_exposition() {
    let m = Metrics::new(vec!["/Example.Call".into(), "/weird \"x\" \\ y\nz".into()]);
    for (i, code) in (200..215).enumerate() {
        m.observe(&rec(i % 3, code, Protocol::ALL[i % 3], i as u64 * 700));
    }
    m.shed(Shed::Connections);
    m.connection_opened();
    m.client_call("go.micro.srv.a", "A.B", 200, Duration::from_millis(3));
    m.client_call("go.micro.srv.a", "A.B", 503, Duration::from_secs(30));
    m.client_retry("go.micro.srv.c", "C.D");
    for metrics in [Metrics::new(Vec::new()), m] {
        let mut out = String::new();
        metrics.render(3, &mut out);
        assert!(out.contains("process_cpu_seconds_total") || !cfg!(target_os = "linux"));
        let Some((ok, said)) = promtool(&out) else {
            eprintln!("SKIP: promtool not found");
            return;
        };
        assert!(ok && said.is_empty(), "promtool: {said}\non:\n{out}");
    }
}

/// Pipes `text` into `promtool check metrics`: (exit status 0, what it printed on stdout and
/// stderr); `None` if there is no promtool to run.
fn promtool(text: &str) -> Option<(bool, String)> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        other => other.expect("promtool starts"),
    };
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let done = child.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&done.stdout).into_owned() + &String::from_utf8_lossy(&done.stderr);
    Some((done.status.success(), said))
}
