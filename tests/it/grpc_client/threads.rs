//! The client's reader threads: one per connection, joined when the client drops, ended
//! when a connection has been idle for the idle timeout. These tests hold [`CLIENTS`] for
//! writing: no other client of this module has threads meanwhile.

use std::sync::Arc;
use std::time::Duration;

use micro_mesh::{Caller, GrpcClient, Limits};

use super::{Answer, CLIENTS, Hello, client, options, start, within};
use crate::support::{SRV, stop};

/// The threads of this process named `grpc-client` (the client's readers).
fn reader_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|tasks| {
            tasks
                .flatten()
                .filter(|t| {
                    std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim() == "grpc-client")
                })
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn dropping_the_client_joins_its_reader_threads() {
    let _clients = CLIENTS.write();
    let (srv, _probe) = start(Limits::default());
    let before = reader_threads();
    let client = Arc::new(client(srv.addr()));
    // Enough calls at once that both connections open.
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let client = client.clone();
            std::thread::spawn(move || {
                for _ in 0..20 {
                    let hello = Hello { name: "t".into() };
                    let _: Answer = client
                        .call_proto(SRV, "Example.Call", &hello, &options())
                        .unwrap();
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    let during = reader_threads();
    assert!(
        (before + 1..=before + 2).contains(&during),
        "{before} -> {during}"
    );
    drop(client);
    assert_eq!(reader_threads(), before, "every reader joined at the drop");
    stop("grpc threads", srv);
}

#[test]
fn an_idle_connection_closes_and_the_next_call_opens_another() {
    let _clients = CLIENTS.write();
    let (srv, _probe) = start(Limits::default());
    let before = reader_threads();
    let client = GrpcClient::builder()
        .call_address(&srv.addr().to_string())
        .idle_timeout(Duration::from_millis(200))
        .build();
    let hello = Hello { name: "idle".into() };
    let _: Answer = client
        .call_proto(SRV, "Example.Call", &hello, &options())
        .unwrap();
    assert!(
        within(Duration::from_secs(20), || reader_threads() == before),
        "the idle connection's reader ended"
    );
    let reply: Answer = client
        .call_proto(SRV, "Example.Call", &hello, &options())
        .unwrap();
    assert_eq!(reply.msg, "Hello idle");
    drop(client);
    assert_eq!(reader_threads(), before);
    stop("grpc idle", srv);
}
