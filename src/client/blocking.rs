//! The blocking HTTP client on ureq: the only home of ureq.

use crate::client::{Call, Client, Reply};
use crate::error::Error;
use crate::name::Overrides;

/// The mesh client: blocking, one shared ureq agent, no proxy, cached DNS.
pub struct HttpClient {}

/// Configures an [`HttpClient`].
pub struct HttpClientBuilder {}

impl HttpClient {
    /// A builder with defaults.
    pub fn builder() -> HttpClientBuilder {
        HttpClientBuilder {}
    }
}

impl HttpClientBuilder {
    /// Sets the default call address.
    pub fn call_address(self, _addr: &str) -> Self {
        self
    }
    /// Sets the override map.
    pub fn overrides(self, _o: Overrides) -> Self {
        self
    }
    /// Adds one override.
    pub fn resolve(self, _entry: &str) -> Result<Self, Error> {
        Ok(self)
    }
    /// Builds the client.
    pub fn build(self) -> HttpClient {
        HttpClient {}
    }
}

impl Client for HttpClient {
    fn call_raw(&self, _call: &Call<'_>) -> Result<Reply, Error> {
        todo!("in progress")
    }
}
