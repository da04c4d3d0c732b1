//! The go-micro template service's messages (protocol.md section 10) as prost + serde types,
//! for the tests that speak protobuf and gRPC.

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
