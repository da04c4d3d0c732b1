//! The `micro-mesh` command line: `call`, `stream` and `health`.

use std::collections::HashMap;
use std::ffi::OsString;
use std::time::Duration;

use super::{HELP, normalise, unknown};
use crate::duration;
use crate::error::Error;
use crate::name::Overrides;

/// What the `micro-mesh` command line asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Command {
    /// `micro-mesh call SERVICE ENDPOINT [BODY]`.
    Call(CallArgs),
    /// `micro-mesh health ADDRESS`, or `health --grpc ADDRESS` (grpc.health.v1).
    Health {
        /// Ask `grpc.health.v1.Health/Check` instead of `GET PATH`.
        grpc: bool,
        address: String,
        path: String,
        timeout: Duration,
    },
    /// `-h`: print this on stdout and exit 0.
    Help(String),
    /// No command: print this on stderr and exit 2.
    Usage(String),
}

/// The arguments of `micro-mesh call`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CallArgs {
    pub service: String,
    pub endpoint: String,
    /// The request body; `None` or `-` means standard input.
    pub body: Option<String>,
    pub headers: Vec<(String, String)>,
    pub address: String,
    pub resolve: Vec<String>,
    pub timeout: Duration,
    pub namespace: String,
    pub cluster_domain: String,
    /// `micro-mesh stream`: print the messages of a server stream as they arrive.
    pub stream: bool,
    /// `--protocol grpc`: call over gRPC (JSON messages) instead of HTTP.
    pub grpc: bool,
}

/// The `micro-mesh --help` text.
pub(crate) const CLI_HELP: &str = "\
micro-mesh: call services in the mesh the way `micro call` did, with no registry.

Usage:
  micro-mesh call [options] SERVICE ENDPOINT [BODY]   BODY is JSON; absent or - reads stdin
  micro-mesh stream [options] SERVICE ENDPOINT [BODY] a server stream: one JSON message per line
  micro-mesh health [--path /health] ADDRESS          GET a service's health (exit 0 when 200)
  micro-mesh health --grpc ADDRESS                    grpc.health.v1 Check (exit 0 when SERVING)

Options of call and stream (Go spellings -name=value work too):
  -H, --header KEY:VALUE     metadata sent as a header; repeatable
  --address ADDR             :PORT (the name rule) or HOST:PORT (env MICRO_CLIENT_CALL_ADDRESS, default :9080)
  --resolve HOST:PORT=IP:PORT  connect there but keep Host; repeatable (env MICRO_RESOLVE)
  --timeout DURATION         the call's budget, e.g. 500ms, 5s (env MICRO_CLIENT_REQUEST_TIMEOUT, default 5s)
  --namespace NS             the target's namespace: name.NS.svc.DOMAIN (env MICRO_CLIENT_NAMESPACE, POD_NAMESPACE)
  --cluster_domain DOMAIN    default cluster.local
  --protocol http|grpc       call over HTTP (default) or gRPC (JSON messages, no .proto needed)

The reply is printed on stdout (pretty on a terminal). An error is printed as the error JSON on
stderr, and the exit code says what failed: 2 usage, 3 bad address, 4 the service answered 4xx,
5 the service answered 5xx, 6 unreachable, 7 timed out, 1 anything else.

Examples:
  micro-mesh call go.micro.srv.sample Example.Call '{\"name\":\"Hobo\"}'
  echo '{\"name\":\"Hobo\"}' | micro-mesh call --address 127.0.0.1:9080 go.micro.srv.sample Example.Call
  micro-mesh call --resolve go-micro-srv-sample:9080=127.0.0.1:19080 -H x-request-id:abc \\
      go.micro.srv.sample Example.Call '{}'
  micro-mesh stream --address 127.0.0.1:9080 go.micro.srv.sample Example.Stream '{\"count\":3}'
  micro-mesh health 127.0.0.1:9080
";

/// Parses the `micro-mesh` command line (without the program name).
pub(crate) fn parse_cli(args: Vec<OsString>, env: &dyn Fn(&str) -> Option<String>) -> Result<Command, Error> {
    const KEYS: [&str; 10] = [
        "--H",
        "--header",
        "--address",
        "--resolve",
        "--timeout",
        "--namespace",
        "--cluster_domain",
        "--path",
        "--protocol",
        "--grpc",
    ];
    let (tokens, keys) = normalise(args)?;
    if keys.iter().any(|k| k == HELP) {
        return Ok(Command::Help(CLI_HELP.into()));
    }
    let mut args = pico_args::Arguments::from_vec(tokens);
    let mut given: HashMap<&'static str, Vec<String>> = HashMap::new();
    for key in &keys {
        let key = KEYS.iter().find(|k| *k == key).ok_or_else(|| unknown(key))?;
        let value = args
            .opt_value_from_str::<_, String>(*key)
            .map_err(|e| Error::Flag(e.to_string()))?
            .ok_or_else(|| Error::Flag(format!("flag {key} needs a value")))?;
        given
            .entry(if *key == "--H" { "--header" } else { key })
            .or_default()
            .push(value);
    }
    let free: Vec<String> = args
        .finish()
        .into_iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let env = |var: &str| env(var).filter(|v| !v.is_empty());
    let one = |given: &mut HashMap<&str, Vec<String>>, key: &str, vars: &[&str], default: &str| {
        given
            .remove(key)
            .and_then(|mut v| v.pop())
            .or_else(|| vars.iter().find_map(|var| env(var)))
            .unwrap_or_else(|| default.to_string())
    };
    let timeout_text = one(&mut given, "--timeout", &["MICRO_CLIENT_REQUEST_TIMEOUT"], "5s");
    let timeout =
        duration::parse(&timeout_text).map_err(|e| Error::Flag(format!("bad value for --timeout: {e}")))?;
    match free.first().map(String::as_str) {
        None => Ok(Command::Usage(CLI_HELP.into())),
        Some("health") => {
            let usage =
                || Error::Flag("usage: micro-mesh health [--path /health] ADDRESS | --grpc ADDRESS".into());
            let grpc = given.remove("--grpc").and_then(|mut v| v.pop());
            let address = match (free.as_slice(), grpc.clone()) {
                ([_], Some(address)) => address,
                ([_, address], None) => address.clone(),
                _ => return Err(usage()),
            };
            let path = one(&mut given, "--path", &[], "/health");
            Ok(Command::Health {
                grpc: grpc.is_some(),
                address,
                path,
                timeout,
            })
        }
        Some(command @ ("call" | "stream")) => {
            let (service, endpoint, body) = match free.as_slice() {
                [_, s, e] => (s, e, None),
                [_, s, e, b] => (s, e, Some(b.clone())),
                _ => {
                    return Err(Error::Flag(format!(
                        "usage: micro-mesh {command} [options] SERVICE ENDPOINT [BODY]"
                    )));
                }
            };
            let headers = given
                .remove("--header")
                .unwrap_or_default()
                .into_iter()
                .map(|h| match h.split_once(':') {
                    Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.trim().to_string())),
                    _ => Err(Error::Flag(format!(
                        "bad value for --header: {h:?} (want KEY:VALUE)"
                    ))),
                })
                .collect::<Result<_, _>>()?;
            let resolve = match given.remove("--resolve") {
                Some(list) => list,
                None => env("MICRO_RESOLVE")
                    .map(|v| v.split(',').map(String::from).collect())
                    .unwrap_or_default(),
            };
            let resolve: Vec<String> = resolve.into_iter().filter(|r| !r.trim().is_empty()).collect();
            // The entry's own message names the flag: "bad --resolve entry ...".
            Overrides::parse(&resolve)
                .map_err(|e| Error::Flag(e.detail().replace("bad call address: ", "")))?;
            let address = one(&mut given, "--address", &["MICRO_CLIENT_CALL_ADDRESS"], ":9080");
            // Checked here, before any traffic: a bad address is a usage error, not a failed call.
            crate::name::target("x", &address)?;
            Ok(Command::Call(CallArgs {
                service: service.clone(),
                endpoint: endpoint.clone(),
                body,
                headers,
                address,
                resolve,
                timeout,
                namespace: one(
                    &mut given,
                    "--namespace",
                    &["MICRO_CLIENT_NAMESPACE", "POD_NAMESPACE"],
                    "",
                ),
                cluster_domain: one(
                    &mut given,
                    "--cluster_domain",
                    &["MICRO_CLIENT_CLUSTER_DOMAIN"],
                    "cluster.local",
                ),
                stream: command == "stream",
                grpc: match one(&mut given, "--protocol", &[], "http").as_str() {
                    "http" => false,
                    "grpc" => true,
                    other => {
                        return Err(Error::Flag(format!(
                            "bad value for --protocol: {other:?} (want http or grpc)"
                        )));
                    }
                },
            }))
        }
        Some(other) => Err(Error::Flag(format!(
            "unknown command {other:?} (want call, stream or health; see --help)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli(args: &[&str], env: &[(&str, &str)]) -> Result<Command, Error> {
        let env: HashMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        parse_cli(args.iter().map(OsString::from).collect(), &|k| {
            env.get(k).cloned()
        })
    }

    #[test]
    fn cli_call_arguments() {
        let Ok(Command::Call(c)) = cli(
            &[
                "call",
                "-H",
                "x-request-id:abc",
                "--header=authorization: Bearer t",
                "-address=127.0.0.1:1",
                "--timeout",
                "250ms",
                "go.micro.srv.sample",
                "Example.Call",
                "{}",
            ],
            &[],
        ) else {
            panic!("not a call")
        };
        assert_eq!(
            (c.service.as_str(), c.endpoint.as_str(), c.body.as_deref()),
            ("go.micro.srv.sample", "Example.Call", Some("{}"))
        );
        assert_eq!(
            c.headers,
            [
                ("x-request-id".into(), "abc".into()),
                ("authorization".into(), "Bearer t".into())
            ]
        );
        assert_eq!(
            (c.address.as_str(), c.timeout),
            ("127.0.0.1:1", Duration::from_millis(250))
        );
        let Ok(Command::Call(c)) = cli(
            &["call", "s.v", "A.B"],
            &[("POD_NAMESPACE", "prod"), ("MICRO_RESOLVE", "a:1=127.0.0.1:2")],
        ) else {
            panic!("not a call")
        };
        assert_eq!(
            (c.body, c.namespace.as_str(), c.resolve.len(), c.address.as_str()),
            (None, "prod", 1, ":9080")
        );
    }

    #[test]
    fn cli_health_help_and_errors() {
        assert_eq!(
            cli(&["health", "127.0.0.1:9080"], &[]).unwrap(),
            Command::Health {
                grpc: false,
                address: "127.0.0.1:9080".into(),
                path: "/health".into(),
                timeout: Duration::from_secs(5)
            }
        );
        assert!(matches!(cli(&[], &[]), Ok(Command::Usage(_))));
        assert!(matches!(
            cli(&["health", "--grpc", "127.0.0.1:1"], &[]),
            Ok(Command::Health { grpc: true, ref address, .. }) if address == "127.0.0.1:1"
        ));
        let Ok(Command::Call(c)) = cli(&["call", "--protocol", "grpc", "s.v", "A.B"], &[]) else {
            panic!("not a call")
        };
        assert!(c.grpc);
        assert!(matches!(cli(&["call", "-h"], &[]), Ok(Command::Help(_))));
        for (args, want) in [
            (&["call", "only-service"][..], "usage: micro-mesh call"),
            (&["frobnicate"][..], "unknown command"),
            (&["call", "--bogus", "1", "a", "b"][..], "unknown flag --bogus"),
            (&["call", "-H", "novalue", "a", "b"][..], "want KEY:VALUE"),
            (
                &["call", "--timeout", "soon", "a", "b"][..],
                "bad value for --timeout",
            ),
            (
                &["call", "--resolve", "x", "a", "b"][..],
                "bad --resolve entry \"x\": want",
            ),
            (
                &["call", "--address", "nope", "a", "b"][..],
                "bad call address: \"nope\" has no port",
            ),
            (&["health"][..], "usage: micro-mesh health"),
            (
                &["health", "--grpc", "a:1", "b:2"][..],
                "usage: micro-mesh health",
            ),
            (
                &["call", "--protocol", "quic", "a", "b"][..],
                "bad value for --protocol",
            ),
        ] {
            let err = cli(args, &[]).unwrap_err().to_string();
            assert!(err.contains(want), "{args:?}: {err}");
        }
    }
}
