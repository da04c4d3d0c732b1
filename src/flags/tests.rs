//! Unit tests of the service flags.

use super::*;

fn own() -> Vec<Flag> {
    vec![
        Flag::new("greeting", "Hello", "how to greet").env("GREETING"),
        Flag::new("plain", "p", "no env"),
    ]
}

/// Parses `args`, split on spaces, with `env` as the whole environment.
fn run_with(defaults: &Flags, args: &str, env: &[(&str, &str)]) -> Result<Parsed, Error> {
    let env: HashMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let args = args.split_whitespace().map(OsString::from).collect();
    parse(
        "go.micro.srv.sample",
        "1.2.3",
        args,
        &|k| env.get(k).cloned(),
        &own(),
        defaults,
    )
}

fn check(args: &str, env: &[(&str, &str)]) -> Flags {
    match run_with(&Flags::default(), args, env) {
        Ok(Parsed::Run(flags)) => flags,
        other => panic!("{args:?} {env:?}: {other:?}"),
    }
}

fn check_err(args: &str, env: &[(&str, &str)], want: &str) {
    match run_with(&Flags::default(), args, env) {
        Err(Error::Flag(msg)) => assert!(msg.contains(want) && !msg.contains('\n'), "{args:?}: {msg:?}"),
        other => panic!("{args:?}: want error {want:?}, got {other:?}"),
    }
}

/// Each flag's name, its env variable, and two good values.
const CASES: [(&str, &str, &str, &str); 5] = [
    ("server_address", "MICRO_SERVER_ADDRESS", "127.0.0.1:0", "h:1"),
    (
        "client_call_address",
        "MICRO_CLIENT_CALL_ADDRESS",
        "10.0.0.1:80",
        ":1",
    ),
    ("resolve", "MICRO_RESOLVE", "a:1=127.0.0.1:2", "b:1=127.0.0.1:9"),
    ("server", "MICRO_SERVER", "tiny_http", "http"),
    ("greeting", "GREETING", "-Hi", "Yo"),
];

fn get(f: &Flags, name: &str) -> String {
    match name {
        "server_address" => f.server_address.clone(),
        "client_call_address" => f.client_call_address.clone(),
        "resolve" => f.resolve.join(","),
        "server" => f.server.to_string(),
        own => f.get(own).unwrap().into(),
    }
}

#[test]
fn every_spelling_sets_every_flag() {
    for (name, _, value, _) in CASES {
        for spelling in ["--{} {}", "--{}={}", "-{} {}", "-{}={}"] {
            let args = spelling.replacen("{}", name, 1).replacen("{}", value, 1);
            assert_eq!(get(&check(&args, &[]), name), value, "{args}");
        }
    }
}

#[test]
fn env_is_the_fallback_and_the_command_line_wins() {
    for (name, var, value, other) in CASES {
        assert_eq!(get(&check("", &[(var, value)]), name), value, "{var}");
        assert_eq!(get(&check("", &[(var, other)]), name), other, "{var}");
        assert_eq!(
            get(&check(&format!("--{name}={value}"), &[(var, other)]), name),
            value
        );
    }
    assert_eq!(
        check("", &[("MICRO_SERVER", "")]).server,
        ServerKind::Http,
        "empty env is unset"
    );
}

#[test]
fn resolve_repeats_and_env_splits_on_commas() {
    let flags = check("--resolve a:1=127.0.0.1:2 -resolve=b:1=127.0.0.1:3", &[]);
    assert_eq!(flags.resolve, ["a:1=127.0.0.1:2", "b:1=127.0.0.1:3"]);
    let env = [("MICRO_RESOLVE", "a:1=127.0.0.1:2,,b:1=127.0.0.1:3,")];
    assert_eq!(check("", &env).resolve, ["a:1=127.0.0.1:2", "b:1=127.0.0.1:3"]);
    assert_eq!(
        check("--resolve=c:1=127.0.0.1:4", &env).resolve,
        ["c:1=127.0.0.1:4"]
    );
}

#[test]
fn own_flags_take_command_line_then_env_then_defaults() {
    let own = |args: &str, env: &[(&str, &str)]| check(args, env).own;
    let pairs = |g: &str, p: &str| {
        vec![
            ("greeting".to_string(), g.to_string()),
            ("plain".into(), p.into()),
        ]
    };
    assert_eq!(own("", &[]), pairs("Hello", "p"));
    assert_eq!(own("-plain q", &[("GREETING", "Hey")]), pairs("Hey", "q"));
    assert_eq!(own("--greeting=Yo", &[("GREETING", "Hey")]), pairs("Yo", "p"));
    let defaults = Flags {
        own: pairs("Howdy", "p")[..1].to_vec(),
        ..Flags::default()
    };
    assert_eq!(
        run_with(&defaults, "", &[]).unwrap(),
        Parsed::Run(Flags {
            own: pairs("Howdy", "p"),
            ..Flags::default()
        })
    );
}

#[test]
fn values_that_look_like_flags_are_kept() {
    assert_eq!(check("--greeting=-x", &[]).get("greeting"), Some("-x"));
    assert_eq!(
        check("-greeting --server --server http", &[]).get("greeting"),
        Some("--server")
    );
    assert_eq!(check("--greeting -h", &[]).get("greeting"), Some("-h"));
    assert_eq!(check("--greeting=", &[]).get("greeting"), Some(""));
    assert_eq!(
        check("--server tiny_http --server=http", &[]).server,
        ServerKind::Http,
        "the last wins"
    );
}

#[test]
fn help_in_every_spelling() {
    for spelling in ["-h", "--help", "-help", "--h"] {
        let Ok(Parsed::Help(text)) = run_with(&Flags::default(), &format!("--nope x {spelling}"), &[]) else {
            panic!("{spelling}")
        };
        assert!(
            text.starts_with("Usage: go.micro.srv.sample [flags]  (version 1.2.3)"),
            "{text}"
        );
        for needle in [
            "  --server_address VALUE ",
            "(env MICRO_SERVER_ADDRESS, default \"0.0.0.0:9080\")",
            "(env MICRO_CLIENT_CALL_ADDRESS, default \":9080\")",
            "(env MICRO_RESOLVE, default \"\")",
            "(env MICRO_SERVER, default \"http\")",
            "  --greeting VALUE ",
            "how to greet (env GREETING, default \"Hello\")",
            "no env (default \"p\")",
            "-name=value",
        ] {
            assert!(text.contains(needle), "{needle:?} not in\n{text}");
        }
    }
}

#[test]
fn errors_are_one_line_and_name_the_flag() {
    for (args, want) in [
        ("--foo x", "unknown flag --foo (see --help)"),
        ("-foo=x", "unknown flag --foo (see --help)"),
        ("-x", "unknown flag --x (see --help)"),
        ("--=x", "unknown flag --=x (see --help)"),
        ("--server_address", "flag --server_address needs a value"),
        ("--greeting a -plain", "flag --plain needs a value"),
        ("foo", "unexpected argument \"foo\""),
        ("--server=http -", "unexpected argument \"-\""),
        ("--", "unexpected argument \"--\""),
        (
            "--server_address=:9080",
            "bad value for --server_address: \":9080\" has no host",
        ),
        (
            "--server_address h:99999",
            "bad value for --server_address: \"h:99999\" has a bad port",
        ),
        (
            "--client_call_address=",
            "bad value for --client_call_address: empty call address",
        ),
        (
            "-client_call_address :0",
            "bad value for --client_call_address: \":0\" has a bad port",
        ),
        (
            "--resolve nope",
            "bad value for --resolve: bad --resolve entry \"nope\"",
        ),
        (
            "--server x",
            "bad value for --server: unknown server \"x\" (known: http, tiny_http)",
        ),
    ] {
        check_err(args, &[], want);
    }
    check_err(
        "",
        &[("MICRO_SERVER", "x")],
        "bad value for MICRO_SERVER: unknown server \"x\"",
    );
    check_err(
        "",
        &[("MICRO_SERVER_ADDRESS", "h")],
        "bad value for MICRO_SERVER_ADDRESS: \"h\" has no port",
    );
    check_err(
        "",
        &[("MICRO_CLIENT_CALL_ADDRESS", ":x")],
        "bad value for MICRO_CLIENT_CALL_ADDRESS: ",
    );
    check_err(
        "",
        &[("MICRO_RESOLVE", "a,b")],
        "bad value for MICRO_RESOLVE: bad --resolve entry \"a\"",
    );
    let err = parse(
        "p",
        "v",
        vec!["foo\nbar".into()],
        &|_| None,
        &[],
        &Flags::default(),
    );
    assert!(matches!(err, Err(Error::Flag(msg)) if msg == "unexpected argument \"foo\\nbar\""));
}

#[cfg(unix)]
#[test]
fn non_utf8_arguments_are_errors() {
    use std::os::unix::ffi::OsStringExt;
    let bad = || OsString::from_vec(vec![b'-', 0xff]);
    for args in [vec![bad()], vec!["--greeting".into(), bad()]] {
        let err = parse("p", "v", args, &|_| None, &own(), &Flags::default());
        assert!(
            matches!(&err, Err(Error::Flag(msg)) if msg.ends_with("is not UTF-8")),
            "{err:?}"
        );
    }
}

#[test]
fn defaults_are_untouched_when_nothing_is_given() {
    let own = vec![("greeting".into(), "Hello".into()), ("plain".into(), "p".into())];
    let defaults = Flags {
        server_address: "127.0.0.1:0".into(),
        resolve: vec!["a:1=127.0.0.1:2".into()],
        own,
        ..Flags::default()
    };
    assert_eq!(
        run_with(&defaults, "", &[]).unwrap(),
        Parsed::Run(defaults.clone())
    );
    assert_eq!(
        check("", &[("UNRELATED", "x")]),
        Flags {
            own: defaults.own,
            ..Flags::default()
        }
    );
}

#[test]
fn client_flags_parse_durations_counts_and_namespaces() {
    let f = check(
        "-client_request_timeout=500ms --client_retries 0 -client_namespace team-b",
        &[],
    );
    assert_eq!(f.client_request_timeout, Duration::from_millis(500));
    assert_eq!((f.client_retries, f.client_namespace.as_str()), (0, "team-b"));
    let f = check(
        "",
        &[
            ("MICRO_CLIENT_REQUEST_TIMEOUT", "1m"),
            ("MICRO_CLIENT_RETRIES", "3"),
        ],
    );
    assert_eq!(
        (f.client_request_timeout, f.client_retries),
        (Duration::from_secs(60), 3)
    );
    assert_eq!(
        check("--client_cluster_domain corp.example", &[]).client_cluster_domain,
        "corp.example"
    );
    let d = check("", &[]);
    assert_eq!(
        (d.client_request_timeout, d.client_retries),
        (Duration::from_secs(5), 1)
    );
    assert_eq!(
        (d.client_namespace.as_str(), d.client_cluster_domain.as_str()),
        ("", "cluster.local")
    );
}

#[test]
fn namespace_falls_back_to_the_downward_api_variable() {
    assert_eq!(check("", &[("POD_NAMESPACE", "prod")]).client_namespace, "prod");
    let both = [("MICRO_CLIENT_NAMESPACE", "mine"), ("POD_NAMESPACE", "prod")];
    assert_eq!(check("", &both).client_namespace, "mine");
    assert_eq!(check("--client_namespace=other", &both).client_namespace, "other");
    assert_eq!(
        check("--client_namespace=", &both).client_namespace,
        "",
        "explicitly none"
    );
}

#[test]
fn bad_client_flag_values() {
    check_err("--client_request_timeout 5", &[], "invalid duration");
    check_err("--client_request_timeout=-1s", &[], "invalid duration");
    check_err("--client_retries=many", &[], "whole number");
    check_err("--client_retries=1000", &[], "whole number");
    check_err("--client_namespace Team_B", &[], "DNS-1123");
    check_err("", &[("POD_NAMESPACE", "Bad_NS")], "POD_NAMESPACE");
    check_err("--client_cluster_domain a..b", &[], "client_cluster_domain");
}

#[test]
fn lifecycle_flags() {
    let f = check(
        "--server_max_connections 64 -server_max_in_flight=8 --shutdown_delay=100ms \
         --shutdown_timeout 1s --server_idle_timeout 2h --log_level warn,access=info",
        &[],
    );
    let l = &f.limits;
    assert_eq!((l.max_connections, l.max_in_flight), (64, 8));
    assert_eq!(
        (l.shutdown_delay, l.shutdown_timeout, l.idle_timeout),
        (
            Duration::from_millis(100),
            Duration::from_secs(1),
            Duration::from_secs(7200)
        )
    );
    assert_eq!(f.log_level, "warn,access=info");
    let env = [("MICRO_LOG_LEVEL", "off"), ("MICRO_SHUTDOWN_DELAY", "0")];
    let f = check("", &env);
    assert_eq!(
        (f.log_level.as_str(), f.limits.shutdown_delay),
        ("off", Duration::ZERO)
    );
    let d = Flags::default();
    assert_eq!((d.limits.max_connections, d.limits.max_in_flight), (256, 128));
    assert_eq!(
        (d.limits.shutdown_delay, d.limits.shutdown_timeout),
        (Duration::from_secs(2), Duration::from_secs(20))
    );
    assert_eq!(
        (d.limits.idle_timeout, d.log_level.as_str()),
        (Duration::from_secs(3610), "info")
    );
    check_err("--server_max_connections 0", &[], "from 1 to 1000000");
    check_err("--server_max_in_flight=lots", &[], "from 1 to 1000000");
    check_err("--shutdown_delay 2", &[], "invalid duration");
    check_err("--log_level loud", &[], "unknown log level");
}

#[test]
fn every_duration_and_count_is_bounded_at_parse_time() {
    check_err(
        "--shutdown_timeout 3000000000000000h",
        &[],
        "bad value for --shutdown_timeout: duration \"3000000000000000h\" is over the 24h limit",
    );
    for flag in [
        "--shutdown_delay",
        "--server_idle_timeout",
        "--client_request_timeout",
    ] {
        check_err(&format!("{flag} 25h"), &[], "over the 24h limit");
    }
    check_err(
        "",
        &[("MICRO_SHUTDOWN_TIMEOUT", "100000h")],
        "MICRO_SHUTDOWN_TIMEOUT",
    );
    check_err("--server_max_connections 4294967296", &[], "from 1 to 1000000");
    check_err("--server_max_in_flight 1000001", &[], "from 1 to 1000000");
    check_err("--server_max_concurrent_streams 0", &[], "from 1 to 1000000");
    assert_eq!(
        check("--server_max_concurrent_streams 7", &[])
            .limits
            .max_concurrent_streams,
        7
    );
    check_err("--client_retries 101", &[], "from 0 to 100");
    assert_eq!(
        check("--shutdown_timeout 24h", &[]).limits.shutdown_timeout,
        crate::duration::MAX
    );
}

#[test]
fn metrics_path_is_a_path_of_its_own_or_empty() {
    assert_eq!(Flags::default().metrics_path, "/metrics");
    assert_eq!(check("--metrics_path /prom", &[]).metrics_path, "/prom");
    assert_eq!(
        check("--metrics_path=", &[]).metrics_path,
        "",
        "empty turns them off"
    );
    check_err("--metrics_path metrics", &[], "not an absolute path");
    check_err("--metrics_path /health", &[], "not an absolute path");
}
