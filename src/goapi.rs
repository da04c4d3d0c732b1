//! go-api compatibility: API requests in go-micro's `go.api.Request` shape, answers as `go.api.Response`.
//!
//! A Go handler `func (e *Example) Call(ctx, req *api.Request, rsp *api.Response) error` ports
//! line by line to a closure `|ctx, req: ApiRequest| -> Result<ApiResponse, Error>` served with
//! [`Service::api_go`](crate::Service::api_go); the response's status, headers and body are
//! applied to the HTTP reply (the fix over the Go plugin, which sent the struct as JSON).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::handler::{Body, Request, Response};
use crate::metadata::Metadata;
use crate::percent::form_decode;

/// go-api's `Pair`: a name and all its values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pair {
    /// The name, as Go spells it (`Content-Type` for headers).
    pub key: String,
    /// Every value, in arrival order.
    pub values: Vec<String>,
}

/// go-api's `Request` as JSON: method, path, headers, query and form fields, body and URL.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ApiRequest {
    /// The HTTP method.
    pub method: String,
    /// The path without the query.
    pub path: String,
    /// Headers by canonical name (`X-Forwarded-For` and `Host` included, as the Go server did).
    pub header: BTreeMap<String, Pair>,
    /// Query parameters.
    pub get: BTreeMap<String, Pair>,
    /// Form fields of an `application/x-www-form-urlencoded` body.
    pub post: BTreeMap<String, Pair>,
    /// The raw body, unless it was form-encoded.
    pub body: String,
    /// The path and query, as requested.
    pub url: String,
}

/// go-api's `Response`: status (0 means 200), headers and body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ApiResponse {
    /// The HTTP status; 0 means 200.
    #[serde(rename = "statusCode")]
    pub status_code: i32,
    /// Headers by name.
    pub header: BTreeMap<String, Pair>,
    /// The body.
    pub body: String,
}

impl ApiResponse {
    /// A 200 response with a JSON body, as Go handlers usually build it.
    pub fn json(body: impl Into<String>) -> ApiResponse {
        let mut header = BTreeMap::new();
        add(&mut header, "Content-Type", "application/json");
        ApiResponse {
            status_code: 200,
            header,
            body: body.into(),
        }
    }
}

/// Go's `CanonicalMIMEHeaderKey`: `x-forwarded-for` becomes `X-Forwarded-For`.
pub fn canonical(name: &str) -> String {
    let mut upper = true;
    name.chars()
        .map(|c| {
            let out = if upper {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            };
            upper = c == '-';
            out
        })
        .collect()
}

fn add(map: &mut BTreeMap<String, Pair>, key: &str, value: &str) {
    let pair = map.entry(key.to_string()).or_insert_with(|| Pair {
        key: key.to_string(),
        values: Vec::new(),
    });
    pair.values.push(value.to_string());
}

fn parse_form(text: &str, into: &mut BTreeMap<String, Pair>) {
    for part in text.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        add(into, &form_decode(k), &form_decode(v));
    }
}

/// Builds the go-api view of a request, as the Go server's `requestToProto` did.
pub fn to_api_request(metadata: &Metadata, req: &Request) -> ApiRequest {
    let mut out = ApiRequest {
        method: req.method.clone(),
        path: req.path.clone(),
        url: if req.query.is_empty() {
            req.path.clone()
        } else {
            format!("{}?{}", req.path, req.query)
        },
        ..ApiRequest::default()
    };
    for (name, value) in metadata.iter() {
        add(&mut out.header, &canonical(name), value);
    }
    if let Some(peer) = req.peer {
        add(&mut out.header, "X-Forwarded-For", &peer.ip().to_string());
    }
    parse_form(&req.query, &mut out.get);
    let form = metadata.get("content-type").is_some_and(|ct| {
        ct.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .eq_ignore_ascii_case("application/x-www-form-urlencoded")
    });
    if form {
        parse_form(&String::from_utf8_lossy(&req.body), &mut out.post);
    } else {
        out.body = String::from_utf8_lossy(&req.body).into_owned();
    }
    out
}

/// Applies a go-api response: its status (0 means 200), every header value, and its body.
pub fn from_api_response(resp: ApiResponse) -> Response {
    let status = match resp.status_code {
        0 => 200,
        code => u16::try_from(code)
            .ok()
            .filter(|c| (100..600).contains(c))
            .unwrap_or(500),
    };
    let mut out = Response::new(status);
    for pair in resp.header.values() {
        for value in &pair.values {
            out.headers.push((pair.key.clone(), value.clone()));
        }
    }
    out.body = Body::Bytes(resp.body.into_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec;

    fn request(method: &str, query: &str, ct: Option<&str>, body: &str) -> ApiRequest {
        let mut md: Metadata = [("host", "api:9080"), ("x-forwarded-for", "10.0.0.1")]
            .into_iter()
            .collect();
        if let Some(ct) = ct {
            md.insert("content-type", ct);
        }
        let req = Request {
            method: method.into(),
            path: "/example/call".into(),
            query: query.into(),
            body: body.into(),
            peer: Some("127.0.0.1:5000".parse().unwrap()),
        };
        to_api_request(&md, &req)
    }

    #[test]
    fn get_request_in_go_api_shape() {
        let r = request("GET", "name=Hobo&tag=a&tag=b", None, "");
        assert_eq!(r.url, "/example/call?name=Hobo&tag=a&tag=b");
        assert_eq!(r.get["name"].values, ["Hobo"]);
        assert_eq!(
            r.get["tag"],
            Pair {
                key: "tag".into(),
                values: vec!["a".into(), "b".into()]
            }
        );
        assert_eq!(r.header["Host"].values, ["api:9080"]);
        assert_eq!(
            r.header["X-Forwarded-For"].values,
            ["10.0.0.1", "127.0.0.1"],
            "prior values plus the peer"
        );
        let json = String::from_utf8(codec::encode(&r).unwrap()).unwrap();
        assert!(
            json.contains(r#""get":{"name":{"key":"name","values":["Hobo"]}"#),
            "{json}"
        );
    }

    #[test]
    fn form_bodies_become_post_fields_and_others_stay_raw() {
        let r = request(
            "POST",
            "",
            Some("application/x-www-form-urlencoded"),
            "name=Ho+bo&x=%21",
        );
        assert_eq!(
            (
                r.post["name"].values[0].as_str(),
                r.post["x"].values[0].as_str(),
                r.body.as_str()
            ),
            ("Ho bo", "!", "")
        );
        let r = request("POST", "", Some("application/json"), r#"{"name":"Hobo"}"#);
        assert!(r.post.is_empty());
        assert_eq!(r.body, r#"{"name":"Hobo"}"#);
    }

    #[test]
    fn responses_are_applied() {
        let resp: ApiResponse = codec::decode(
            br#"{"statusCode":0,"header":{"Content-Type":{"key":"Content-Type","values":["application/json"]},
                "Set-Cookie":{"key":"Set-Cookie","values":["a=1","b=2"]}},"body":"{\"msg\":\"Hello Hobo\"}"}"#,
        )
        .unwrap();
        let out = from_api_response(resp);
        assert_eq!(out.status, 200);
        assert_eq!(out.header("content-type"), Some("application/json"));
        assert_eq!(out.headers.iter().filter(|(k, _)| k == "Set-Cookie").count(), 2);
        assert_eq!(out.body.bytes(), br#"{"msg":"Hello Hobo"}"#);
        assert_eq!(
            from_api_response(ApiResponse {
                status_code: 404,
                ..Default::default()
            })
            .status,
            404
        );
        assert_eq!(
            from_api_response(ApiResponse {
                status_code: 99_999,
                ..Default::default()
            })
            .status,
            500
        );
    }

    #[test]
    fn canonical_header_names() {
        assert_eq!(canonical("x-forwarded-for"), "X-Forwarded-For");
        assert_eq!(canonical("CONTENT-TYPE"), "Content-Type");
        assert_eq!(canonical("host"), "Host");
    }
}
