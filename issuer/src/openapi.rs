//! The OpenAPI 3.1 document of the issuer's HTTP API, served at `/openapi.json`, and the list of routes it
//! covers (a test holds the two to each other, and to the router).
//!
//! The document is built from typed parts whose members are declared in alphabetical order, the order it has
//! always been served in (it was once a JSON map, which sorts its keys); `tests/wire/openapi.json` holds it.

use std::collections::BTreeMap;

use serde::Serialize;

/// Every route the service serves, with its method: the OpenAPI document covers exactly these (tested).
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/openapi.json"),
    ("get", "/v1/trust-bundle"),
    ("get", "/v1/province-bundle"),
    ("post", "/v1/credentials"),
    ("post", "/v1/credentials/bulk"),
    ("get", "/v1/credentials/{id}"),
    ("get", "/v1/credentials/{id}/qr.png"),
    ("get", "/v1/credentials/{id}/qr.svg"),
    ("get", "/v1/credentials/{id}/qr.txt"),
    ("post", "/v1/credentials/{id}/claim-link"),
    ("get", "/v1/claim/{secret}"),
    ("post", "/v1/credentials/{id}/revoke"),
    ("post", "/v1/credentials/{id}/suspend"),
    ("post", "/v1/credentials/{id}/reinstate"),
    ("get", "/v1/status/{list}"),
    ("get", "/v1/status/{list}/delta/{from}"),
];

/// A path parameter.
#[derive(Serialize)]
struct Parameter {
    #[serde(rename = "in")]
    location: &'static str,
    name: &'static str,
    required: bool,
    schema: Schema,
}

/// A JSON schema of a scalar.
#[derive(Serialize)]
struct Schema {
    #[serde(skip_serializing_if = "Option::is_none")]
    minimum: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pattern: Option<&'static str>,
    #[serde(rename = "type")]
    kind: &'static str,
}

const fn path_parameter(name: &'static str, kind: &'static str) -> Parameter {
    Parameter { location: "path", name, required: true, schema: Schema { minimum: None, pattern: None, kind } }
}

const fn number_parameter(name: &'static str) -> Parameter {
    let mut parameter = path_parameter(name, "integer");
    parameter.schema.minimum = Some(0);
    parameter
}

const ID: &[Parameter] = &[Parameter {
    location: "path",
    name: "id",
    required: true,
    schema: Schema { minimum: None, pattern: Some("^[0-9a-f]{16,32}$"), kind: "string" },
}];
const SECRET: &[Parameter] = &[path_parameter("secret", "string")];
const LIST: &[Parameter] = &[number_parameter("list")];
const LIST_FROM: &[Parameter] = &[number_parameter("list"), number_parameter("from")];

/// One operation: what it does, who may call it, its path parameters, its success status and its request body's
/// media type.
struct Endpoint {
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    roles: Option<&'static str>,
    parameters: &'static [Parameter],
    ok: &'static str,
    body: Option<&'static str>,
}

const fn endpoint(method: &'static str, path: &'static str, summary: &'static str) -> Endpoint {
    Endpoint { method, path, summary, roles: None, parameters: &[], ok: "200", body: None }
}

const fn status_change(path: &'static str, summary: &'static str) -> Endpoint {
    let body = Some("application/json");
    Endpoint { method: "post", path, summary, roles: Some("revoker, admin"), parameters: ID, ok: "200", body }
}

/// Every operation, in the order of [`ROUTES`].
const ENDPOINTS: &[Endpoint] = &[
    endpoint("get", "/healthz", "Liveness"),
    endpoint("get", "/readyz", "Readiness: the database answers"),
    endpoint("get", "/metrics", "Prometheus metrics"),
    endpoint("get", "/openapi.json", "This document"),
    endpoint("get", "/v1/trust-bundle", "The federation trust bundle (ETag; If-None-Match answers 304)"),
    endpoint("get", "/v1/province-bundle", "This province's signed bundle (ETag; If-None-Match answers 304)"),
    Endpoint {
        roles: Some("issuer, admin"),
        ok: "201",
        body: Some("application/json"),
        ..endpoint(
            "post",
            "/v1/credentials",
            "Issue one credential (an Idempotency-Key header makes retries of the same request return the first \
             credential, 200; the same key with another request is 422 and issues nothing). An optional \
             `holder_key` (the holder device's 32-byte Ed25519 public key as 64 hex digits) binds the credential \
             to that device: verifiers then accept it only as the wallet's dynamic code (HP1:), not as the static \
             QR code returned here",
        )
    },
    Endpoint {
        roles: Some("issuer, admin"),
        body: Some("application/x-ndjson"),
        ..endpoint(
            "post",
            "/v1/credentials/bulk",
            "Bulk issuance: NDJSON (application/x-ndjson, or no Content-Type) or text/csv in (UTF-8; one byte \
             order mark at the start is dropped; only the first CSV line may be the header), NDJSON out (one line \
             per input line, then a summary); other media types are 415",
        )
    },
    Endpoint {
        roles: Some("any"),
        parameters: ID,
        ..endpoint("get", "/v1/credentials/{id}", "A credential's status and QR text")
    },
    Endpoint { roles: Some("any"), parameters: ID, ..endpoint("get", "/v1/credentials/{id}/qr.png", "QR code as PNG") },
    Endpoint { roles: Some("any"), parameters: ID, ..endpoint("get", "/v1/credentials/{id}/qr.svg", "QR code as SVG") },
    Endpoint {
        roles: Some("any"),
        parameters: ID,
        ..endpoint("get", "/v1/credentials/{id}/qr.txt", "QR code for a terminal")
    },
    Endpoint {
        roles: Some("issuer, admin"),
        parameters: ID,
        ok: "201",
        ..endpoint("post", "/v1/credentials/{id}/claim-link", "Create a one-time claim link (valid 24 h)")
    },
    Endpoint {
        parameters: SECRET,
        ..endpoint("get", "/v1/claim/{secret}", "Redeem a claim link once (no token; 410 when used or expired)")
    },
    status_change("/v1/credentials/{id}/revoke", "Revoke (final), with a reason"),
    status_change("/v1/credentials/{id}/suspend", "Suspend, with a reason"),
    status_change("/v1/credentials/{id}/reinstate", "Reinstate a suspended credential, with a reason"),
    Endpoint {
        parameters: LIST,
        ..endpoint("get", "/v1/status/{list}", "The newest signed status list (ETag; If-None-Match answers 304)")
    },
    Endpoint {
        parameters: LIST_FROM,
        ..endpoint(
            "get",
            "/v1/status/{list}/delta/{from}",
            "A signed delta from version `from` to the newest (304 when `from` is the newest; 404 when unknown: \
             fetch the full list)",
        )
    },
];

/// An operation as documented.
#[derive(Serialize)]
struct Operation {
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    parameters: &'static [Parameter],
    #[serde(rename = "requestBody", skip_serializing_if = "Option::is_none")]
    request_body: Option<RequestBody>,
    /// The success status, then `default`: a problem.
    responses: BTreeMap<&'static str, Answer>,
    #[serde(skip_serializing_if = "Option::is_none")]
    security: Option<[BTreeMap<&'static str, [(); 0]>; 1]>,
    summary: &'static str,
}

#[derive(Serialize)]
struct RequestBody {
    content: BTreeMap<&'static str, Empty>,
    required: bool,
}

/// `{}`.
#[derive(Serialize)]
struct Empty {}

/// A documented answer: success, or a problem+json.
#[derive(Serialize)]
#[serde(untagged)]
enum Answer {
    Success { description: &'static str },
    Problem { content: BTreeMap<&'static str, ProblemSchema>, description: &'static str },
}

#[derive(Serialize)]
struct ProblemSchema {
    schema: Reference,
}

#[derive(Serialize)]
struct Reference {
    #[serde(rename = "$ref")]
    target: &'static str,
}

impl Endpoint {
    fn operation(&self) -> Operation {
        let problem = Answer::Problem {
            content: BTreeMap::from([(
                "application/problem+json",
                ProblemSchema { schema: Reference { target: "#/components/schemas/Problem" } },
            )]),
            description: "problem+json (RFC 9457)",
        };
        Operation {
            description: self.roles.map(|roles| format!("Token roles: {roles}.")),
            parameters: self.parameters,
            request_body: self
                .body
                .map(|media_type| RequestBody { content: BTreeMap::from([(media_type, Empty {})]), required: true }),
            responses: BTreeMap::from([(self.ok, Answer::Success { description: "success" }), ("default", problem)]),
            security: self.roles.map(|_| [BTreeMap::from([("token", [])])]),
            summary: self.summary,
        }
    }
}

/// The whole document.
#[derive(Serialize)]
struct Document {
    components: serde_json::Value,
    info: Info,
    openapi: &'static str,
    paths: BTreeMap<&'static str, BTreeMap<&'static str, Operation>>,
}

#[derive(Serialize)]
struct Info {
    title: &'static str,
    version: &'static str,
}

/// The OpenAPI 3.1 document of the API.
pub(crate) fn openapi() -> impl Serialize {
    let mut paths: BTreeMap<_, BTreeMap<_, _>> = BTreeMap::new();
    for endpoint in ENDPOINTS {
        paths.entry(endpoint.path).or_default().insert(endpoint.method, endpoint.operation());
    }
    // The parts every operation refers to: fixed text, written as it is served.
    let components = serde_json::json!({
        "schemas": { "Problem": { "properties": {
            "detail": { "type": "string" }, "status": { "type": "integer" }, "title": { "type": "string" },
            "type": { "type": "string" } }, "type": "object" } },
        "securitySchemes": { "token": { "description": "hrt_<id>.<secret>", "scheme": "bearer", "type": "http" } },
    });
    Document {
        components,
        info: Info { title: "Huren issuer", version: env!("CARGO_PKG_VERSION") },
        openapi: "3.1.0",
        paths,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_documented_once() {
        let documented: Vec<(&str, &str)> = ENDPOINTS.iter().map(|e| (e.method, e.path)).collect();
        assert_eq!(documented, ROUTES);
    }
}
