//! Command-line flags and their environment fallbacks: the only home of pico_args and std::env.
//!
//! Every flag but `-h`/`--help` takes one value, spelled as in Go or GNU: `--name value`,
//! `--name=value`, `-name value` or `-name=value`. The command line beats the environment, which
//! beats the defaults. Built-in flags are rows of `BUILTINS`; a new one is a row and a field.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use crate::client::ClientKind;
use crate::duration;
use crate::error::Error;
use crate::server::{Limits, ServerKind};

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
    pub server: ServerKind,
    /// `--client` / `MICRO_CLIENT`: the client plugin (default `http`; `grpc` calls over gRPC).
    pub client: ClientKind,
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
    /// The server's limits and timeouts. Six are flags: `--server_max_connections`,
    /// `--server_max_in_flight`, `--server_max_concurrent_streams`, `--server_idle_timeout`,
    /// `--shutdown_delay` and `--shutdown_timeout` (env `MICRO_` + the name in capitals); see
    /// [`Limits`].
    pub limits: Limits,
    /// `--metrics_path` / `MICRO_METRICS_PATH`: where `GET` answers the Prometheus metrics
    /// (default `/metrics`; empty on the command line turns them off).
    pub metrics_path: String,
    /// `--log_level` / `MICRO_LOG_LEVEL`: what `run()` logs on stderr (default `info`, which
    /// includes the access log; `info,access=off` leaves it out).
    pub log_level: String,
    /// Values of the service's own flags, by name.
    pub own: Vec<(String, String)>,
}

impl Default for Flags {
    fn default() -> Flags {
        Flags {
            server_address: "0.0.0.0:9080".into(),
            client_call_address: ":9080".into(),
            resolve: Vec::new(),
            server: ServerKind::default(),
            client: ClientKind::default(),
            client_request_timeout: Duration::from_secs(5),
            client_retries: 1,
            client_namespace: String::new(),
            client_cluster_domain: "cluster.local".into(),
            limits: Limits::default(),
            metrics_path: "/metrics".into(),
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

mod builtins;
mod command;

use builtins::{BUILTINS, Slot};
pub(crate) use command::{CallArgs, Command, parse_cli};

/// The normalised key of help; `-h`, `-help`, `--h` and `--help` all become it.
const HELP: &str = "--help";

/// Parses `args` (without the program name) with `env` as the environment.
///
/// Each built-in flag and each of `own` takes its value from the command line (the last one
/// wins; `--resolve` collects them all), else from its environment variable, else from
/// `defaults`. Built-in values from the command line or the environment are checked. `-h`/`--help` anywhere gives [`Parsed::Help`]. Any other problem is
/// a one-line [`Error::Flag`].
pub fn parse(
    program: &str,
    version: &str,
    args: Vec<OsString>,
    env: &dyn Fn(&str) -> Option<String>,
    own: &[Flag],
    defaults: &Flags,
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
            (b.check)(v).map_err(|err| {
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
            Slot::Size(field) => *field(&mut flags) = last.parse().unwrap_or(1),
            Slot::Server(field) => *field(&mut flags) = last.parse().unwrap_or_default(),
            Slot::Client(field) => *field(&mut flags) = last.parse().unwrap_or_default(),
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
pub fn from_process(program: &str, version: &str, own: &[Flag], defaults: &Flags) -> Flags {
    let args = process_args();
    match parse(program, version, args, &env_var, own, defaults) {
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
    let mut keys = crate::sync::lock(&KEYS);
    if let Some(k) = keys.iter().find(|k| **k == key) {
        return k;
    }
    let k: &'static str = Box::leak(key.into());
    keys.push(k);
    k
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
                Slot::Size(field) => field(&mut d).to_string(),
                Slot::Server(field) => field(&mut d).to_string(),
                Slot::Client(field) => field(&mut d).to_string(),
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
mod tests;
