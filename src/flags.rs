//! Command-line flags and their environment fallbacks: the only home of pico_args and std::env.

use std::ffi::OsString;

use crate::error::Error;

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
        Flag { name: name.into(), env: None, default: default.into(), usage: usage.into() }
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
    /// Values of the service's own flags, by name.
    pub own: Vec<(String, String)>,
}

impl Default for Flags {
    fn default() -> Flags {
        Flags {
            server_address: "0.0.0.0:9080".into(),
            client_call_address: ":9080".into(),
            resolve: Vec::new(),
            server: "http".into(),
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
pub enum Parsed {
    /// Run with these flags.
    Run(Flags),
    /// Print this help text and exit 0.
    Help(String),
}

/// Parses `args` (without the program name) with `env` as the environment.
pub fn parse(
    program: &str,
    version: &str,
    args: Vec<OsString>,
    env: &dyn Fn(&str) -> Option<String>,
    own: &[Flag],
    defaults: &Flags,
    servers: &[&str],
) -> Result<Parsed, Error> {
    let _ = (program, version, args, env, own, defaults, servers);
    todo!("in progress")
}

/// Parses the process's arguments and environment; exits 0 after help, 2 after a bad flag.
pub fn from_process(program: &str, version: &str, own: &[Flag], defaults: &Flags, servers: &[&str]) -> Flags {
    let _ = (program, version, own, defaults, servers);
    todo!("in progress")
}
