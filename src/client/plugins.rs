//! Both client plugins behind one `Client`: each call goes over its options' plugin, else the
//! service's default (`--client`), as go-micro picks a client per call.

use crate::client::blocking::HttpClient;
use crate::client::grpc::GrpcClient;
use crate::client::{Call, Client, ClientKind, Duplex, Messages, Reply};
use crate::error::Error;

/// An HTTP and a gRPC client configured alike; a call picks one by
/// [`CallOptions::client`](crate::CallOptions::client), else `default` (a duplex call, which
/// only gRPC can make, else gRPC). A `Service` builds one
/// from its flags. (The gRPC client opens no connection until its first call.)
pub struct Plugins {
    /// The plugin of calls that name none.
    pub default: ClientKind,
    /// The HTTP/1.1 client.
    pub http: HttpClient,
    /// The gRPC client.
    pub grpc: GrpcClient,
}

impl Plugins {
    fn pick(&self, call: &Call<'_>) -> &dyn Client {
        match call.options.client.unwrap_or(self.default) {
            ClientKind::Http => &self.http,
            ClientKind::Grpc => &self.grpc,
        }
    }
}

impl Client for Plugins {
    fn call_raw(&self, call: &Call<'_>) -> Result<Reply, Error> {
        self.pick(call).call_raw(call)
    }

    fn stream_raw(&self, call: &Call<'_>) -> Result<Messages, Error> {
        self.pick(call).stream_raw(call)
    }

    /// Over the call's plugin when it names one, else over gRPC whatever the default: HTTP/1.1
    /// cannot stream a request.
    fn bidi_raw(&self, call: &Call<'_>) -> Result<Duplex, Error> {
        match call.options.client {
            Some(_) => self.pick(call).bidi_raw(call),
            None => self.grpc.bidi_raw(call),
        }
    }
}
