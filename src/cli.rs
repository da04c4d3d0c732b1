//! The `micro-mesh` command: `call` a service as `micro call` did, or read its `health`.

use std::io::{IsTerminal, Read, Write};
use std::process::ExitCode;

use crate::client::blocking::HttpClient;
use crate::client::grpc::GrpcClient;
use crate::client::{Call, CallOptions, Client};
use crate::codec;
use crate::error::{CLIENT_ID, Error};
use crate::flags::{self, CallArgs, Command};
use crate::grpc::content::GrpcCodec;
use crate::grpc::health;
use crate::metadata::Metadata;
use crate::name::Overrides;

/// Runs the `micro-mesh` command line and returns its exit code (see `micro-mesh --help`).
pub fn cli_main() -> ExitCode {
    let code = match flags::parse_cli(flags::process_args(), &flags::env_var) {
        Ok(Command::Help(text)) => {
            print!("{text}");
            0
        }
        Ok(Command::Usage(text)) => {
            eprint!("{text}");
            2
        }
        Ok(Command::Call(args)) if args.stream => report(stream(&args).map(|()| Vec::new())),
        Ok(Command::Call(args)) => report(call(&args)),
        Ok(Command::Health {
            grpc: true,
            address,
            timeout,
            ..
        }) => report(grpc_health(&address, timeout)),
        Ok(Command::Health {
            address,
            path,
            timeout,
            ..
        }) => {
            let client = HttpClient::builder().timeout(timeout).retries(0).build();
            report(client.get(&address, &path).map(|reply| reply.body))
        }
        Err(err) => {
            eprintln!("error: {err}");
            if matches!(err, Error::Address(_)) { 3 } else { 2 }
        }
    };
    ExitCode::from(code)
}

/// Prints each message of a server stream on its own line as it arrives.
fn stream(args: &CallArgs) -> Result<(), Error> {
    with_call(args, |client, call| {
        let mut out = std::io::stdout().lock();
        for message in client.stream_raw(call)? {
            out.write_all(&message?)?;
            out.write_all(b"\n")?;
            out.flush()?;
        }
        Ok(())
    })
}

fn call(args: &CallArgs) -> Result<Vec<u8>, Error> {
    with_call(args, |client, call| Ok(client.call_raw(call)?.body))
}

/// `grpc.health.v1.Health/Check` at `address`: `{"status":"SERVING"}` (exit 0), or the status
/// as a 503 error (exit 5) when the service is not serving.
fn grpc_health(address: &str, timeout: std::time::Duration) -> Result<Vec<u8>, Error> {
    let client = GrpcClient::builder()
        .call_address(address)
        .timeout(timeout)
        .retries(0)
        .build();
    let body = health::encode_request(GrpcCodec::Proto, "");
    let options = CallOptions::default();
    let call = Call::new(
        "grpc.health.v1",
        "Health.Check",
        "application/proto",
        &body,
        &options,
    );
    let reply = client.call_raw(&call)?;
    let status = health::decode_response(GrpcCodec::Proto, &reply.body)?;
    let line = format!(r#"{{"status":"{}"}}"#, status.name());
    match status {
        health::ServingStatus::Serving => Ok(line.into_bytes()),
        _ => Err(Error::with_id(address, 503, line)),
    }
}

/// Builds the client and the call a `call` or `stream` command line describes, and runs `f`.
fn with_call<T>(
    args: &CallArgs,
    f: impl FnOnce(&dyn Client, &Call<'_>) -> Result<T, Error>,
) -> Result<T, Error> {
    let (client, body, metadata, options) = prepare(args)?;
    let call = Call {
        service: &args.service,
        endpoint: &args.endpoint,
        content_type: "application/json",
        body: &body,
        metadata: &metadata,
        options: &options,
        deadline: None,
    };
    f(&*client, &call)
}

/// What a command line's call needs: the client, body, metadata and options.
type Prepared = (Box<dyn Client>, Vec<u8>, Metadata, CallOptions);

/// The client, body, metadata and options of a `call` or `stream` command line.
fn prepare(args: &CallArgs) -> Result<Prepared, Error> {
    let body = match args.body.as_deref() {
        Some(body) if body != "-" => body.as_bytes().to_vec(),
        _ if std::io::stdin().is_terminal() => b"{}".to_vec(),
        _ => {
            let mut body = Vec::new();
            std::io::stdin().read_to_end(&mut body)?;
            body
        }
    };
    macro_rules! configured {
        ($builder:expr) => {
            $builder
                .call_address(&args.address)
                .overrides(Overrides::parse(&args.resolve)?)
                .timeout(args.timeout)
                .namespace(Some(&args.namespace))
                .cluster_domain(&args.cluster_domain)
                .build()
        };
    }
    // Over gRPC the body is JSON too (`+json`): no .proto needed.
    let client: Box<dyn Client> = match args.grpc {
        true => Box::new(configured!(GrpcClient::builder())),
        false => Box::new(configured!(HttpClient::builder())),
    };
    let metadata: Metadata = args
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    Ok((client, body, metadata, CallOptions::default()))
}

/// Prints a reply on stdout or the error JSON on stderr, and picks the exit code.
fn report(result: Result<Vec<u8>, Error>) -> u8 {
    match result {
        Ok(body) if body.is_empty() => 0,
        Ok(body) => {
            let mut out = std::io::stdout();
            let text = if out.is_terminal() {
                codec::pretty(&body)
            } else {
                String::from_utf8_lossy(&body).into_owned()
            };
            let _ = writeln!(out, "{}", text.trim_end());
            0
        }
        // A target the client cannot make from the name: nothing was sent, so no error JSON.
        Err(err @ Error::Address(_)) => {
            eprintln!("error: {err}");
            exit_code(&err)
        }
        Err(err) => {
            eprintln!(
                "{}",
                String::from_utf8_lossy(&codec::encode_error(&err.wire(CLIENT_ID)))
            );
            exit_code(&err)
        }
    }
}

/// 3 bad address, 4 a 4xx answer, 5 a 5xx answer, 6 unreachable, 7 timed out, 1 anything else.
pub(crate) fn exit_code(err: &Error) -> u8 {
    match err {
        Error::Address(_) => 3,
        Error::Timeout(_) => 7,
        Error::Unreachable(_) => 6,
        Error::Micro { code, .. } if (400..500).contains(code) => 4,
        Error::Micro { code, .. } if *code >= 500 => 5,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_error() {
        assert_eq!(exit_code(&Error::Address("x".into())), 3);
        assert_eq!(exit_code(&Error::new(404, "x")), 4);
        assert_eq!(exit_code(&Error::new(503, "x")), 5);
        assert_eq!(exit_code(&Error::Unreachable("x".into())), 6);
        assert_eq!(exit_code(&Error::Timeout("x".into())), 7);
        assert_eq!(exit_code(&Error::Codec("x".into())), 1);
    }
}
