//! The go-micro template service's messages (protocol.md section 10) as prost + serde types,
//! and its two handlers, for the tests that speak protobuf and gRPC.

use micro_mesh::{Context, Error, Service, Stream};
use serde::{Deserialize, Serialize};

/// `message Request { string name = 1; }`.
#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct Hello {
    #[prost(string, tag = "1")]
    pub name: String,
}

/// `message Response { string msg = 1; }`.
#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct Reply {
    #[prost(string, tag = "1")]
    pub msg: String,
}

/// `message StreamingRequest { int64 count = 1; }` (and `StreamingResponse`, the same shape).
#[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
#[serde(default)]
pub struct Count {
    #[prost(int64, tag = "1")]
    pub count: i64,
}

/// `service` with the template's `Example.Call` (a greeting; an empty name is a 400) and
/// `Example.Stream` (`count` messages, 0 to count - 1), as the srv example serves them.
pub fn template(service: Service) -> Service {
    service
        .rpc_proto("Example.Call", |_: &Context, req: Hello| {
            if req.name.is_empty() {
                return Err(Error::bad_request("name must not be empty"));
            }
            Ok(Reply {
                msg: format!("Hello {}", req.name),
            })
        })
        .stream_proto(
            "Example.Stream",
            |_: &Context, req: Count, out: &mut Stream<'_, Count>| {
                (0..req.count).try_for_each(|count| out.send(&Count { count }))
            },
        )
}
