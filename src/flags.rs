//! Command-line flags and their environment fallbacks: the only home of pico_args and std::env.
//!
//! Every flag but `-h`/`--help` takes one value, spelled as in Go or GNU: `--name value`,
//! `--name=value`, `-name value` or `-name=value`. The command line beats the environment, which
//! beats the defaults. Built-in flags are rows of `BUILTINS`; a new one is a row and a field.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use crate::duration;
use crate::error::Error;
use crate::name::{Overrides, check_label, parse_host_port, target};

/// A flag a service declares for itself, beside the built-in ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flag {
    /// The name without dashes, such as `greeting` (given as `--greeting` or `-greeting`).
    pub name: String,
    /// The environment variable read when the flag is absent, if any.
    pub env: Option<String>,
    /// The value when neither the flag nor the environment variable is given.
    pub default: String,
    /// One line of help.
    pub usage: String,
}

impl Flag {
    /// A flag with a default value and a line of help.
    pub fn new(name: &str, default: &str, usage: &str) -> Flag {
        Flag {
            name: name.into(),
            env: None,
            default: default.into(),
            usage: usage.into(),
        }
    }

    /// Reads `var` from the environment when the flag is not on the command line.
    pub fn env(mut self, var: &str) -> Flag {
        self.env = Some(var.into());
        self
    }
}

/// The parsed flags: built-in ones as fields, a service's own ones through [`Flags::get`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flags {
    /// `--server_address` / `MICRO_SERVER_ADDRESS`: where to listen (default `0.0.0.0:9080`).
    pub server_address: String,
    /// `--client_call_address` / `MICRO_CLIENT_CALL_ADDRESS`: `:PORT` or `HOST:PORT` (default `:9080`).
    pub client_call_address: String,
    /// `--resolve` (repeatable) / `MICRO_RESOLVE` (comma-separated): `HOST:PORT=ADDR:PORT` overrides.
    pub resolve: Vec<String>,
    /// `--server` / `MICRO_SERVER`: the server plugin (default `http`).
    pub server: String,
    /// `--client_request_timeout` / `MICRO_CLIENT_REQUEST_TIMEOUT`: a call's budget outside any
    /// request, Go syntax such as `500ms` (default `5s`).
    pub client_request_timeout: Duration,
    /// `--client_retries` / `MICRO_CLIENT_RETRIES`: retries of calls that never reached the
    /// server (default 1; 0 turns them off).
    pub client_retries: u32,
    /// `--client_namespace` / `MICRO_CLIENT_NAMESPACE`, else `POD_NAMESPACE`: the namespace of
    /// `:PORT` targets (empty: the pod's own search list).
    pub client_namespace: String,
    /// `--client_cluster_domain` / `MICRO_CLIENT_CLUSTER_DOMAIN`: for namespaced targets
    /// (default `cluster.local`).
    pub client_cluster_domain: String,
    /// `--server_max_connections` / `MICRO_SERVER_MAX_CONNECTIONS`: [`Limits::max_connections`](crate::Limits).
    pub server_max_connections: u32,
    /// `--server_max_in_flight` / `MICRO_SERVER_MAX_IN_FLIGHT`: [`Limits::max_in_flight`](crate::Limits).
    pub server_max_in_flight: u32,
    /// `--server_idle_timeout` / `MICRO_SERVER_IDLE_TIMEOUT`: [`Limits::idle_timeout`](crate::Limits).
    pub server_idle_timeout: Duration,
    /// `--shutdown_delay` / `MICRO_SHUTDOWN_DELAY`: [`Limits::shutdown_delay`](crate::Limits).
    pub shutdown_delay: Duration,
    /// `--shutdown_timeout` / `MICRO_SHUTDOWN_TIMEOUT`: [`Limits::shutdown_timeout`](crate::Limits).
    pub shutdown_timeout: Duration,
    /// `--log_level` / `MICRO_LOG_LEVEL`: what `run()` logs on stderr (default `info`, which
    /// includes the access log; `info,access=off` leaves it out).
    pub log_level: String,
    /// Values of the service's own flags, by name.
    pub own: Vec<(String, String)>,
}

impl Default for Flags {
    fn default() -> Flags {
        let limits = crate::server::Limits::default();
        Flags {
            server_address: "0.0.0.0:9080".into(),
            client_call_address: ":9080".into(),
            resolve: Vec::new(),
            server: "http".into(),
            client_request_timeout: Duration::from_secs(5),
            client_retries: 1,
            client_namespace: String::new(),
            client_cluster_domain: "cluster.local".into(),
            server_max_connections: limits.max_connections as u32,
            server_max_in_flight: limits.max_in_flight as u32,
            server_idle_timeout: limits.idle_timeout,
            shutdown_delay: limits.shutdown_delay,
            shutdown_timeout: limits.shutdown_timeout,
            log_level: "info".into(),
            own: Vec::new(),
        }
    }
}

impl Flags {
    /// The value of the service's own flag `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.own.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// What a command line asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)] // made once per process
pub enum Parsed {
    /// Run with these flags.
    Run(Flags),
    /// Print this help text and exit 0.
    Help(String),
}

/// A built-in flag: its `--key`, its environment variable, its help, its field and its check.
struct Builtin {
    key: &'static str,
    /// Environment variables to fall back on, the first one set wins.
    env: &'static [&'static str],
    usage: &'static str,
    slot: Slot,
    /// Checks one value against the known servers; the error's message becomes the reason.
    check: fn(&str, &[&str]) -> Result<(), Error>,
}

/// The field of [`Flags`] a built-in fills: one value (the last given wins) or a list.
#[derive(Clone, Copy)]
enum Slot {
    /// A single value.
    One(fn(&mut Flags) -> &mut String),
    /// Repeatable on the command line, comma-separated in the environment.
    Many(fn(&mut Flags) -> &mut Vec<String>),
    /// A Go duration such as `500ms`.
    Time(fn(&mut Flags) -> &mut Duration),
    /// A whole number.
    Count(fn(&mut Flags) -> &mut u32),
}

const BUILTINS: &[Builtin] = &[
    Builtin {
        key: "--server_address",
        env: &["MICRO_SERVER_ADDRESS"],
        usage: "where to listen, HOST:PORT; port 0 picks a free one",
        slot: Slot::One(|f| &mut f.server_address),
        check: |v, _| check_listen(v),
    },
    Builtin {
        key: "--client_call_address",
        env: &["MICRO_CLIENT_CALL_ADDRESS"],
        usage: "where calls go: :PORT (the service name as host) or HOST:PORT",
        slot: Slot::One(|f| &mut f.client_call_address),
        check: |v, _| target("x", v).map(drop),
    },
    Builtin {
        key: "--resolve",
        env: &["MICRO_RESOLVE"],
        usage: "HOST:PORT=ADDR:PORT: connect to ADDR:PORT instead; repeatable, comma-separated in env",
        slot: Slot::Many(|f| &mut f.resolve),
        check: |v, _| Overrides::parse(&[v]).map(drop),
    },
    Builtin {
        key: "--server",
        env: &["MICRO_SERVER"],
        usage: "the server plugin",
        slot: Slot::One(|f| &mut f.server),
        check: check_server,
    },
    Builtin {
        key: "--client_request_timeout",
        env: &["MICRO_CLIENT_REQUEST_TIMEOUT"],
        usage: "a call's time budget outside any request (Go duration: 500ms, 5s, 1m)",
        slot: Slot::Time(|f| &mut f.client_request_timeout),
        check: |v, _| check_duration(v),
    },
    Builtin {
        key: "--client_retries",
        env: &["MICRO_CLIENT_RETRIES"],
        usage: "retries of a call that never reached the server (0: none)",
        slot: Slot::Count(|f| &mut f.client_retries),
        check: |v, _| check_count(v),
    },
    Builtin {
        key: "--client_namespace",
        env: &["MICRO_CLIENT_NAMESPACE", "POD_NAMESPACE"],
        usage: "namespace of :PORT targets: name.NS.svc.DOMAIN (empty: the pod's search list)",
        slot: Slot::One(|f| &mut f.client_namespace),
        check: |v, _| {
            if v.is_empty() {
                Ok(())
            } else {
                check_label(v).map_err(Error::Flag)
            }
        },
    },
    Builtin {
        key: "--client_cluster_domain",
        env: &["MICRO_CLIENT_CLUSTER_DOMAIN"],
        usage: "the cluster's DNS domain, for namespaced targets",
        slot: Slot::One(|f| &mut f.client_cluster_domain),
        check: |v, _| {
            v.trim_matches('.')
                .split('.')
                .try_for_each(|label| check_label(label).map_err(Error::Flag))
        },
    },
    Builtin {
        key: "--server_max_connections",
        env: &["MICRO_SERVER_MAX_CONNECTIONS"],
        usage: "most connections served at once, a thread each; at the cap the one waiting longest is closed",
        slot: Slot::Count(|f| &mut f.server_max_connections),
        check: |v, _| check_cap(v),
    },
    Builtin {
        key: "--server_max_in_flight",
        env: &["MICRO_SERVER_MAX_IN_FLIGHT"],
        usage: "most requests in handlers at once; beyond it a fast 503",
        slot: Slot::Count(|f| &mut f.server_max_in_flight),
        check: |v, _| check_cap(v),
    },
    Builtin {
        key: "--server_idle_timeout",
        env: &["MICRO_SERVER_IDLE_TIMEOUT"],
        usage: "how long a kept-alive connection may sit idle (keep it above the sidecar's 1h)",
        slot: Slot::Time(|f| &mut f.server_idle_timeout),
        check: |v, _| check_duration(v),
    },
    Builtin {
        key: "--shutdown_delay",
        env: &["MICRO_SHUTDOWN_DELAY"],
        usage: "on SIGTERM, how long readiness answers 503 before the listener closes",
        slot: Slot::Time(|f| &mut f.shutdown_delay),
        check: |v, _| check_duration(v),
    },
    Builtin {
        key: "--shutdown_timeout",
        env: &["MICRO_SHUTDOWN_TIMEOUT"],
        usage: "then how long requests in flight may take to finish",
        slot: Slot::Time(|f| &mut f.shutdown_timeout),
        check: |v, _| check_duration(v),
    },
    Builtin {
        key: "--log_level",
        env: &["MICRO_LOG_LEVEL"],
        usage: "off, error, warn, info (with the access log), debug or trace; TARGET=LEVEL too (access=off)",
        slot: Slot::One(|f| &mut f.log_level),
        check: |v, _| crate::logger::parse_spec(v).map(drop).map_err(Error::Flag),
    },
];

/// The normalised key of help; `-h`, `-help`, `--h` and `--help` all become it.
const HELP: &str = "--help";

/// Parses `args` (without the program name) with `env` as the environment.
///
/// Each built-in flag and each of `own` takes its value from the command line (the last one
/// wins; `--resolve` collects them all), else from its environment variable, else from
/// `defaults`. Built-in values from the command line or the environment are checked; `server`
/// must be one of `servers`. `-h`/`--help` anywhere gives [`Parsed::Help`]. Any other problem is
/// a one-line [`Error::Flag`].
pub fn parse(
    program: &str,
    version: &str,
    args: Vec<OsString>,
    env: &dyn Fn(&str) -> Option<String>,
    own: &[Flag],
    defaults: &Flags,
    servers: &[&str],
) -> Result<Parsed, Error> {
    let (tokens, keys) = normalise(args)?;
    if keys.iter().any(|k| k == HELP) {
        return Ok(Parsed::Help(help(program, version, own, defaults)));
    }
    // Taking the keys in order, one occurrence each, means pico_args always finds the one we
    // mean: every earlier token is gone or a positional, so a value that looks like a key is safe.
    let mut args = pico_args::Arguments::from_vec(tokens);
    let mut given: HashMap<&'static str, Vec<String>> = HashMap::new();
    for key in &keys {
        let key = static_key(key, own).ok_or_else(|| unknown(key))?;
        let needs = || Error::Flag(format!("flag {key} needs a value"));
        let value = match args.opt_value_from_str::<_, String>(key) {
            Err(pico_args::Error::OptionWithoutAValue(_)) => return Err(needs()),
            Err(err) => return Err(Error::Flag(err.to_string())),
            Ok(value) => value.ok_or_else(needs)?,
        };
        given.entry(key).or_default().push(value);
    }
    if let Some(stray) = args.finish().first() {
        return Err(Error::Flag(format!("unexpected argument {stray:?}")));
    }
    let env = |var: &str| env(var).filter(|v| !v.is_empty());
    let mut flags = defaults.clone();
    for b in BUILTINS {
        let from_env = b.env.iter().find_map(|var| env(var).map(|v| (*var, v)));
        let (source, values) = match (given.remove(b.key), from_env, b.slot) {
            (Some(values), _, _) => (b.key, values),
            (None, Some((var, v)), Slot::Many(_)) => {
                (var, v.split(',').map(str::trim).map(String::from).collect())
            }
            (None, Some((var, v)), _) => (var, vec![v]),
            (None, None, _) => continue,
        };
        let values: Vec<String> = values
            .into_iter()
            .filter(|v| !v.is_empty() || source == b.key)
            .collect();
        for v in &values {
            (b.check)(v, servers).map_err(|err| {
                let reason = match err {
                    Error::Address(msg) | Error::Flag(msg) => msg,
                    other => other.to_string(),
                };
                Error::Flag(format!("bad value for {source}: {reason}"))
            })?;
        }
        let last = values.last().cloned().unwrap_or_default();
        match b.slot {
            Slot::One(field) => *field(&mut flags) = last,
            Slot::Many(field) => *field(&mut flags) = values,
            // Checked above, so these parse.
            Slot::Time(field) => *field(&mut flags) = duration::parse(&last).unwrap_or_default(),
            Slot::Count(field) => *field(&mut flags) = last.parse().unwrap_or_default(),
        }
    }
    flags.own = own
        .iter()
        .map(|f| {
            let value = (given
                .remove(format!("--{}", f.name).as_str())
                .and_then(|mut v| v.pop()))
            .or_else(|| f.env.as_deref().and_then(env))
            .or_else(|| defaults.get(&f.name).map(String::from))
            .unwrap_or_else(|| f.default.clone());
            (f.name.clone(), value)
        })
        .collect();
    Ok(Parsed::Run(flags))
}

/// Parses the process's arguments and environment; exits 0 after help, 2 after a bad flag.
pub fn from_process(program: &str, version: &str, own: &[Flag], defaults: &Flags, servers: &[&str]) -> Flags {
    let args = process_args();
    match parse(program, version, args, &env_var, own, defaults, servers) {
        Ok(Parsed::Run(flags)) => flags,
        Ok(Parsed::Help(text)) => {
            println!("{text}");
            std::process::exit(0)
        }
        Err(err) => {
            eprintln!("error: {err}");
            std::process::exit(2)
        }
    }
}

/// What the `micro-mesh` command line asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Command {
    /// `micro-mesh call SERVICE ENDPOINT [BODY]`.
    Call(CallArgs),
    /// `micro-mesh health ADDRESS`.
    Health {
        address: String,
        path: String,
        timeout: Duration,
    },
    /// `-h`, or no command: print this and exit 0.
    Help(String),
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
}

/// The `micro-mesh --help` text.
pub(crate) const CLI_HELP: &str = "\
micro-mesh: call services in the mesh the way `micro call` did, with no registry.

Usage:
  micro-mesh call [options] SERVICE ENDPOINT [BODY]   BODY is JSON; absent or - reads stdin
  micro-mesh stream [options] SERVICE ENDPOINT [BODY] a server stream: one JSON message per line
  micro-mesh health [--path /health] ADDRESS          GET a service's health (exit 0 when 200)

Options of call and stream (Go spellings -name=value work too):
  -H, --header KEY:VALUE     metadata sent as a header; repeatable
  --address ADDR             :PORT (the name rule) or HOST:PORT (env MICRO_CLIENT_CALL_ADDRESS, default :9080)
  --resolve HOST:PORT=IP:PORT  connect there but keep Host; repeatable (env MICRO_RESOLVE)
  --timeout DURATION         the call's budget, e.g. 500ms, 5s (env MICRO_CLIENT_REQUEST_TIMEOUT, default 5s)
  --namespace NS             the target's namespace: name.NS.svc.DOMAIN (env MICRO_CLIENT_NAMESPACE, POD_NAMESPACE)
  --cluster_domain DOMAIN    default cluster.local

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
    const KEYS: [&str; 8] = [
        "--H",
        "--header",
        "--address",
        "--resolve",
        "--timeout",
        "--namespace",
        "--cluster_domain",
        "--path",
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
        None => Ok(Command::Help(CLI_HELP.into())),
        Some("health") => {
            let [_, address] = free.as_slice() else {
                return Err(Error::Flag(
                    "usage: micro-mesh health [--path /health] ADDRESS".into(),
                ));
            };
            let path = one(&mut given, "--path", &[], "/health");
            Ok(Command::Health {
                address: address.clone(),
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
            Overrides::parse(&resolve).map_err(|e| Error::Flag(format!("bad value for --resolve: {e}")))?;
            Ok(Command::Call(CallArgs {
                service: service.clone(),
                endpoint: endpoint.clone(),
                body,
                headers,
                address: one(&mut given, "--address", &["MICRO_CLIENT_CALL_ADDRESS"], ":9080"),
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
            }))
        }
        Some(other) => Err(Error::Flag(format!(
            "unknown command {other:?} (want call, stream or health; see --help)"
        ))),
    }
}

/// The process's arguments without the program name.
pub(crate) fn process_args() -> Vec<OsString> {
    std::env::args_os().skip(1).collect()
}

/// The environment variable `name`; unset, empty and non-UTF-8 values are all `None`.
///
/// The crate's one place to read the environment.
pub fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Turns every flag into `--name` followed by its value, as pico_args reads them, and lists the
/// flags' keys in order. Pairing flags with values here keeps a value like `-x` as it is.
fn normalise(args: Vec<OsString>) -> Result<(Vec<OsString>, Vec<String>), Error> {
    let utf8 = |arg: OsString| {
        arg.into_string()
            .map_err(|arg| Error::Flag(format!("argument {arg:?} is not UTF-8")))
    };
    let (mut tokens, mut keys) = (Vec::new(), Vec::new());
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let arg = utf8(arg)?;
        let body = match arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) {
            Some(body) if !body.is_empty() => body,
            _ => {
                tokens.push(arg.into()); // a positional, or a bare `-` or `--`: reported as stray
                continue;
            }
        };
        let (name, value) = match body.split_once('=') {
            Some((name, value)) => (name, Some(value.to_string())),
            None => (body, None),
        };
        let key = match name {
            "" => return Err(unknown(&arg)),
            "h" | "help" => HELP.to_string(),
            name => format!("--{name}"),
        };
        tokens.push(key.clone().into());
        if key != HELP {
            match value {
                Some(value) => tokens.push(value.into()),
                None => tokens.extend(args.next().map(utf8).transpose()?.map(OsString::from)),
            }
        }
        keys.push(key);
    }
    Ok((tokens, keys))
}

/// The `&'static str` pico_args wants for `key`, if some flag has that key.
fn static_key(key: &str, own: &[Flag]) -> Option<&'static str> {
    if let Some(b) = BUILTINS.iter().find(|b| b.key == key) {
        return Some(b.key);
    }
    own.iter()
        .any(|f| key.strip_prefix("--") == Some(f.name.as_str()))
        .then(|| intern(key))
}

/// Leaks each distinct key of a service's own flags once, so the leak stays bounded.
fn intern(key: &str) -> &'static str {
    static KEYS: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
    let mut keys = KEYS.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(k) = keys.iter().find(|k| **k == key) {
        return k;
    }
    let k: &'static str = Box::leak(key.into());
    keys.push(k);
    k
}

/// A listen address: `HOST:PORT` as [`parse_host_port`] takes it, but port 0 is allowed too.
fn check_listen(addr: &str) -> Result<(), Error> {
    let port_zero_ok = |host: &str| parse_host_port(&format!("{host}:1")).is_ok();
    match parse_host_port(addr) {
        Err(_) if addr.strip_suffix(":0").is_some_and(port_zero_ok) => Ok(()),
        result => result.map(drop),
    }
}

/// A Go duration such as `500ms` or `5s`.
fn check_duration(value: &str) -> Result<(), Error> {
    duration::parse(value).map(drop).map_err(Error::Flag)
}

/// A whole number, at most 100.
fn check_count(value: &str) -> Result<(), Error> {
    match value.parse::<u32>() {
        Ok(n) if n <= 100 => Ok(()),
        _ => Err(Error::Flag(format!(
            "{value:?} is not a whole number from 0 to 100"
        ))),
    }
}

/// A cap on connections or requests: a whole number from 1 to 1,000,000.
fn check_cap(value: &str) -> Result<(), Error> {
    match value.parse::<u32>() {
        Ok(n) if (1..=1_000_000).contains(&n) => Ok(()),
        _ => Err(Error::Flag(format!(
            "{value:?} is not a whole number from 1 to 1000000"
        ))),
    }
}

/// A server plugin's name, one of `servers`.
fn check_server(name: &str, servers: &[&str]) -> Result<(), Error> {
    let known = servers.join(", ");
    servers
        .contains(&name)
        .then_some(())
        .ok_or_else(|| Error::Flag(format!("unknown server {name:?} (known: {known})")))
}

/// The error for a flag no one declared.
fn unknown(key: &str) -> Error {
    Error::Flag(format!("unknown flag {} (see --help)", key.escape_debug()))
}

/// The `--help` text: usage, version, and one line per flag with its env variable and default.
fn help(program: &str, version: &str, own: &[Flag], defaults: &Flags) -> String {
    let mut d = defaults.clone();
    let mut rows: Vec<(String, String)> = BUILTINS
        .iter()
        .map(|b| {
            let shown = match b.slot {
                Slot::One(field) => field(&mut d).clone(),
                Slot::Many(field) => field(&mut d).join(","),
                Slot::Time(field) => duration::format(*field(&mut d)),
                Slot::Count(field) => field(&mut d).to_string(),
            };
            (
                format!("{} VALUE", b.key),
                format!("{} (env {}, default {shown:?})", b.usage, b.env.join(" or ")),
            )
        })
        .collect();
    for f in own {
        let shown = defaults.get(&f.name).unwrap_or(&f.default);
        let env = f.env.as_ref().map(|e| format!("env {e}, ")).unwrap_or_default();
        rows.push((
            format!("--{} VALUE", f.name),
            format!("{} ({env}default {shown:?})", f.usage),
        ));
    }
    rows.push(("-h, --help".into(), "print this help and exit".into()));
    let width = rows.iter().map(|(left, _)| left.len()).max().unwrap_or(0);
    let mut out = format!("Usage: {program} [flags]  (version {version})\n\n");
    out.push_str("Flags (Go spellings -name value and -name=value work too, as does --name=value):\n");
    for (left, right) in rows {
        let _ = writeln!(out, "  {left:<width$}   {right}");
    }
    out.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVERS: &[&str] = &["http", "tiny_http"];

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
            SERVERS,
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
            "server" => f.server.clone(),
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
            "http",
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
            "http",
            "the last wins"
        );
    }

    #[test]
    fn help_in_every_spelling() {
        for spelling in ["-h", "--help", "-help", "--h"] {
            let Ok(Parsed::Help(text)) = run_with(&Flags::default(), &format!("--nope x {spelling}"), &[])
            else {
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
            SERVERS,
        );
        assert!(matches!(err, Err(Error::Flag(msg)) if msg == "unexpected argument \"foo\\nbar\""));
    }

    #[cfg(unix)]
    #[test]
    fn non_utf8_arguments_are_errors() {
        use std::os::unix::ffi::OsStringExt;
        let bad = || OsString::from_vec(vec![b'-', 0xff]);
        for args in [vec![bad()], vec!["--greeting".into(), bad()]] {
            let err = parse("p", "v", args, &|_| None, &own(), &Flags::default(), SERVERS);
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
        assert_eq!((f.server_max_connections, f.server_max_in_flight), (64, 8));
        assert_eq!(
            (f.shutdown_delay, f.shutdown_timeout, f.server_idle_timeout),
            (
                Duration::from_millis(100),
                Duration::from_secs(1),
                Duration::from_secs(7200)
            )
        );
        assert_eq!(f.log_level, "warn,access=info");
        let env = [("MICRO_LOG_LEVEL", "off"), ("MICRO_SHUTDOWN_DELAY", "0")];
        let f = check("", &env);
        assert_eq!((f.log_level.as_str(), f.shutdown_delay), ("off", Duration::ZERO));
        let d = Flags::default();
        assert_eq!((d.server_max_connections, d.server_max_in_flight), (256, 128));
        assert_eq!(
            (d.shutdown_delay, d.shutdown_timeout),
            (Duration::from_secs(2), Duration::from_secs(20))
        );
        assert_eq!(
            (d.server_idle_timeout, d.log_level.as_str()),
            (Duration::from_secs(3610), "info")
        );
        check_err("--server_max_connections 0", &[], "from 1 to 1000000");
        check_err("--server_max_in_flight=lots", &[], "from 1 to 1000000");
        check_err("--shutdown_delay 2", &[], "invalid duration");
        check_err("--log_level loud", &[], "unknown log level");
    }

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
                address: "127.0.0.1:9080".into(),
                path: "/health".into(),
                timeout: Duration::from_secs(5)
            }
        );
        assert!(matches!(cli(&[], &[]), Ok(Command::Help(_))));
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
                "bad value for --resolve",
            ),
            (&["health"][..], "usage: micro-mesh health"),
        ] {
            let err = cli(args, &[]).unwrap_err().to_string();
            assert!(err.contains(want), "{args:?}: {err}");
        }
    }
}
