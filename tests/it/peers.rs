//! The gRPC peers' programs (tests/peers/): finding a Python with grpcio, building the grpc-go
//! ones offline. Shared by the server's and the client's interop tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Instant;

use crate::support::serial;

/// A gRPC implementation the interop tests run against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// Python's grpcio (gRPC C-core), from Debian's python3-grpcio.
    Grpcio,
    /// grpc-go, built offline from Debian's Go packages.
    GrpcGo,
}

impl Peer {
    /// The name in test labels and SKIP lines.
    pub fn name(self) -> &'static str {
        match self {
            Peer::Grpcio => "grpcio",
            Peer::GrpcGo => "grpc-go",
        }
    }
}

/// One test file's peer programs: a grpcio script and a grpc-go program, each found or built
/// once per test process.
pub struct Programs {
    script: &'static str,
    go: &'static str,
    python: OnceLock<Result<[PathBuf; 2], &'static str>>,
    built: OnceLock<Result<[PathBuf; 1], &'static str>>,
}

impl Programs {
    /// The programs `tests/peers/{script}` (grpcio) and `tests/peers/{go}/` (grpc-go).
    pub const fn new(script: &'static str, go: &'static str) -> Programs {
        Programs {
            script,
            go,
            python: OnceLock::new(),
            built: OnceLock::new(),
        }
    }

    /// `peer`'s command (program and leading arguments), or why it cannot run here.
    pub fn of(&'static self, peer: Peer) -> Result<&'static [PathBuf], &'static str> {
        match peer {
            Peer::Grpcio => self
                .python
                .get_or_init(|| grpcio(self.script))
                .as_ref()
                .map(|p| &p[..]),
            Peer::GrpcGo => self
                .built
                .get_or_init(|| grpc_go(self.go))
                .as_ref()
                .map(|p| &p[..]),
        }
        .map_err(|e| *e)
    }
}

/// A Python 3 that imports `grpc` and the peer script `tests/peers/{script}`: Debian's `/usr/bin/python3` first (`python3` on PATH may be
/// another interpreter without it), then `python3`.
fn grpcio(script: &str) -> Result<[PathBuf; 2], &'static str> {
    let script = peers_dir().join(script);
    for python in ["/usr/bin/python3", "python3"] {
        let ok = Command::new(python)
            .args(["-c", "import grpc"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return Ok([PathBuf::from(python), script]);
        }
    }
    Err("no python3 with grpc (apt-get install python3-grpcio)")
}

/// Where Debian's Go packages live; grpc-go builds against it in GOPATH mode.
const GOCODE: &str = "/usr/share/gocode";

/// Builds the grpc-go peer `tests/peers/{name}/main.go` once into `target/tmp/grpc-peers/`,
/// named `{name}-{hash:016x}` by a hash of its source and the Go version (so an edit or a new
/// toolchain rebuilds it); offline, in GOPATH mode.
fn grpc_go(name: &str) -> Result<[PathBuf; 1], &'static str> {
    let prefix = format!("{name}-");
    let version = Command::new("go")
        .arg("version")
        .stdin(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .ok_or("no go (apt-get install golang-go)")?;
    for file in [
        "google.golang.org/grpc/server.go",
        "github.com/golang/protobuf/proto/proto.go",
        "google.golang.org/protobuf/proto/encode.go",
        "golang.org/x/net/http2/http2.go",
    ] {
        if !Path::new(GOCODE).join("src").join(file).is_file() {
            return Err("grpc-go sources missing from /usr/share/gocode (apt-get install \
                        golang-google-grpc-dev golang-github-golang-protobuf-1-5-dev \
                        golang-google-protobuf-dev)");
        }
    }
    let dir = peers_dir().join(name);
    let source = std::fs::read(dir.join("main.go")).expect("reading the grpc-go peer's source");
    let key = fnv1a(&[&source[..], &version.stdout[..]].concat());
    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("grpc-peers");
    let binary = out_dir.join(format!("{prefix}{key:016x}"));
    if binary.is_file() {
        return Ok([binary]);
    }
    std::fs::create_dir_all(&out_dir).expect("creating target/tmp/grpc-peers");
    // Built under a name of its own, then renamed: other test processes may build it too.
    let partial = out_dir.join(format!("{prefix}{key:016x}.{}", std::process::id()));
    // A build takes the cores for a few seconds: not while timing tests run.
    let _serial = serial();
    let started = Instant::now();
    let built = Command::new("go")
        .args(["build", "-o"])
        .arg(&partial)
        .arg("main.go")
        .current_dir(&dir)
        .env("GO111MODULE", "off")
        .env("GOPATH", GOCODE)
        .env("GOPROXY", "off")
        .env("GOFLAGS", "")
        .env("GOCACHE", out_dir.join("go-build"))
        .stdin(Stdio::null())
        .output()
        .expect("running go build");
    assert!(
        built.status.success(),
        "go build of tests/peers/{name} failed ({}):\n{}",
        built.status,
        String::from_utf8_lossy(&built.stderr)
    );
    std::fs::rename(&partial, &binary).expect("renaming the built grpc-go peer");
    // Earlier builds (an older source or Go) go; others' partial builds (a `.pid` suffix) stay.
    let current = binary.file_name().unwrap_or_default();
    for entry in std::fs::read_dir(&out_dir).into_iter().flatten().flatten() {
        let name = entry.file_name();
        let stale = name.to_str().is_some_and(|n| {
            n.strip_prefix(prefix.as_str())
                .is_some_and(|k| k.len() == 16 && k.bytes().all(|b| b.is_ascii_hexdigit()))
        });
        if stale && name != current {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    eprintln!("built {} in {:.1?}", binary.display(), started.elapsed());
    Ok([binary])
}

fn peers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers")
}

/// 64-bit FNV-1a: a stable cache key (std's hasher may change between Rust releases).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
