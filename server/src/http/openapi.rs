//! The error half of the OpenAPI document, settled in one place after the router is assembled.
//!
//! Each `#[utoipa::path]` lists the statuses its handler answers (`(status = 404, body =
//! Problem)`); this pass makes every such answer `application/problem+json` (what
//! [`super::error::ApiError`] sends), and adds the statuses that the extractors and middleware
//! give every route of a kind, so no handler has to remember them:
//!
//! - every route: 401 (a token that is present but bad is refused before any handler, public
//!   routes included) and 503 (the store is down; the token check itself reads it);
//! - a path parameter: 404 (an id that does not parse names nothing);
//! - a query: 400 `invalid_query`;
//! - a JSON body: 400 `invalid_json`, 408, 413, 415, 422 `invalid_body`;
//! - any other body (SDP, CSV): 408, 413 and 415.
//!
//! A status the annotation already lists keeps its own description.

use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::{Content, OpenApi, Ref, RefOr, Response};

const PROBLEM_JSON: &str = "application/problem+json";

/// Rewrites `doc` as described in the module documentation.
pub fn settle_problems(doc: &mut OpenApi) {
    require_a_property(doc, "Direct");
    for item in doc.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
            &mut item.head,
            &mut item.options,
            &mut item.trace,
        ];
        for op in operations.into_iter().flatten() {
            settle(op);
        }
    }
}

/// `minProperties: 1` on a component: `POST …/program` needs `camera` or `audio`. Written
/// here because utoipa-gen 5.5 emits `#[schema(min_properties = …)]` as `maxProperties`.
fn require_a_property(doc: &mut OpenApi, component: &str) {
    let schema = doc
        .components
        .as_mut()
        .and_then(|c| c.schemas.get_mut(component));
    if let Some(RefOr::T(utoipa::openapi::Schema::Object(object))) = schema {
        object.min_properties = Some(1);
    }
}

fn settle(op: &mut Operation) {
    for response in op.responses.responses.values_mut() {
        if let RefOr::T(response) = response {
            as_problem_json(response);
        }
    }
    let params = op.parameters.as_deref().unwrap_or_default();
    let has = |kind: fn(&ParameterIn) -> bool| params.iter().any(|p| kind(&p.parameter_in));
    let in_path = has(|p| matches!(p, ParameterIn::Path));
    let in_query = has(|p| matches!(p, ParameterIn::Query));
    let body_types: Vec<String> = op
        .request_body
        .as_ref()
        .map(|b| b.content.keys().cloned().collect())
        .unwrap_or_default();
    let json_body = body_types.iter().any(|t| t == "application/json");

    let mut add = |status: &str, description: &str| {
        op.responses
            .responses
            .entry(status.to_string())
            .or_insert_with(|| RefOr::T(problem(description)));
    };
    add(
        "401",
        "A token was sent but is not valid (`invalid_token`, `token_expired`, `token_not_yet_valid`, `token_revoked`), or this route needs one (`missing_token`)",
    );
    add(
        "503",
        "The store cannot be reached (`store_unavailable`, with `Retry-After`), or the node is at its connection cap with no idle connection to close (`too_many_connections`, with `Retry-After`)",
    );
    if in_path {
        add(
            "404",
            "Nothing has this id (`not_found` for an id that does not parse)",
        );
    }
    if in_query {
        add(
            "400",
            "A query parameter has the wrong type (`invalid_query`)",
        );
    }
    if json_body {
        add("400", "The body is not valid JSON (`invalid_json`)");
        add(
            "422",
            "The body is not an object of the documented shape (`invalid_body`, `unknown_field`) or breaks a rule (a specific code)",
        );
    }
    if !body_types.is_empty() {
        add(
            "413",
            "The body is larger than this route accepts (`payload_too_large`), answered before the body when `Content-Length` says so",
        );
        add(
            "408",
            "The body did not arrive within `--http-body-timeout-ms` (`body_timeout`)",
        );
        add(
            "415",
            "The body's Content-Type is not the documented one (`unsupported_media_type`)",
        );
    }
}

/// A JSON answer whose schema is the `Problem` component becomes problem+json.
fn as_problem_json(response: &mut Response) {
    let is_problem = |content: &Content| matches!(&content.schema, Some(RefOr::Ref(r)) if r.ref_location.ends_with("/Problem"));
    if !response
        .content
        .get("application/json")
        .is_some_and(is_problem)
    {
        return;
    }
    let content = std::mem::take(&mut response.content);
    response.content = content
        .into_iter()
        .map(|(kind, c)| {
            if kind == "application/json" {
                (PROBLEM_JSON.to_string(), c)
            } else {
                (kind, c)
            }
        })
        .collect();
}

fn problem(description: &str) -> Response {
    let mut response = Response::new(description);
    response.content.insert(
        PROBLEM_JSON.to_string(),
        Content::new(Some(RefOr::<utoipa::openapi::schema::Schema>::Ref(
            Ref::from_schema_name("Problem"),
        ))),
    );
    response
}

/// Schemas of the text fields whose rules ([`crate::domain::names`]) are more than a type:
/// trimmed, then 1 to `max` characters with no control or bidi-override character. A pattern
/// says exactly that (a `maxLength` could not: the length counts after trimming), so a client
/// and a fuzzer know which strings the server takes.
pub mod text {
    use utoipa::openapi::schema::{Object, ObjectBuilder, Type};
    use utoipa::openapi::{RefOr, Schema};

    use crate::domain::catalog::{MAX_PRODUCT_DESCRIPTION, MAX_PRODUCT_TITLE, MAX_SKU};
    use crate::domain::names::MAX_DISPLAY_NAME;
    use crate::domain::show::{MAX_DESCRIPTION, MAX_TITLE};

    /// What `str::trim` removes: Unicode White_Space.
    const SPACE: &str = r"\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";
    /// `names::is_forbidden_char`: C0/C1 controls and the bidi controls.
    const FORBIDDEN: &str = r"\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069";
    /// The same, less the tab and line breaks a long text may hold.
    const FORBIDDEN_LONG: &str = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069";

    /// A required single line: 1 to `max` characters once trimmed.
    fn short(max: usize, description: &str) -> Object {
        short_of(Type::String.into(), max, description)
    }

    fn short_of(
        kind: utoipa::openapi::schema::SchemaType,
        max: usize,
        description: &str,
    ) -> Object {
        let (s, f) = (SPACE, FORBIDDEN);
        let inner = max.saturating_sub(2);
        ObjectBuilder::new()
            .schema_type(kind)
            .pattern(Some(format!(
                "^[{s}]*[^{s}{f}](?:[^{f}]{{0,{inner}}}[^{s}{f}])?[{s}]*$"
            )))
            .description(Some(description))
            .build()
    }

    /// An optional text of up to `max` characters once trimmed, tabs and line breaks allowed;
    /// empty or blank means none.
    fn long(max: usize, description: &str) -> RefOr<Schema> {
        let (s, f) = (SPACE, FORBIDDEN_LONG);
        let inner = max.saturating_sub(2);
        let text = ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
                Type::String,
                Type::Null,
            ]))
            .pattern(Some(format!(
                "^[{s}]*(?:[^{s}{f}](?:[^{f}]{{0,{inner}}}[^{s}{f}])?)?[{s}]*$"
            )))
            .description(Some(description))
            .build();
        RefOr::T(Schema::Object(text))
    }

    pub fn display_name() -> Object {
        short(
            MAX_DISPLAY_NAME,
            "The name others see: 1-32 characters once trimmed, no control or bidi-override characters",
        )
    }

    pub fn creator_name() -> Object {
        short(
            MAX_DISPLAY_NAME,
            "1-32 characters once trimmed, no control or bidi-override characters",
        )
    }

    pub fn invite_label() -> Object {
        short_of(
            utoipa::openapi::schema::SchemaType::from_iter([Type::String, Type::Null]),
            40,
            "A name for the invitee, e.g. \"Back camera\" or \"Sam\": 1-40 characters once trimmed",
        )
    }

    pub fn moderator_label() -> Object {
        short(
            40,
            "Who it is for, e.g. \"Sam\": 1-40 characters once trimmed",
        )
    }

    pub fn chapter_title() -> Object {
        short(
            crate::domain::chapter::MAX_TITLE_CHARS,
            "1-80 characters once trimmed, no control or bidi-override characters",
        )
    }

    pub fn show_title() -> Object {
        short(
            MAX_TITLE,
            "1-120 characters once trimmed, no control or bidi-override characters",
        )
    }

    pub fn show_description() -> RefOr<Schema> {
        long(
            MAX_DESCRIPTION,
            "Up to 5000 characters once trimmed; line breaks and tabs allowed; blank means none",
        )
    }

    pub fn product_title() -> Object {
        short(
            MAX_PRODUCT_TITLE,
            "1-200 characters once trimmed, no control or bidi-override characters",
        )
    }

    pub fn sku() -> Object {
        short(
            MAX_SKU,
            "Unique in the creator's catalog: 1-64 characters once trimmed",
        )
    }

    pub fn product_description() -> RefOr<Schema> {
        long(
            MAX_PRODUCT_DESCRIPTION,
            "Up to 10000 characters once trimmed; line breaks and tabs allowed; blank means none",
        )
    }

    /// The roles an invitation can carry.
    pub fn invite_role() -> Object {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(["moderator", "camera"]))
            .build()
    }

    /// An ISO 4217 code the server knows.
    pub fn currency() -> Object {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(
                crate::domain::money::CURRENCIES
                    .iter()
                    .map(|(code, _)| *code),
            ))
            .description(Some(
                "ISO 4217 code (the server also takes it in lower case or with spaces around)",
            ))
            .build()
    }

    /// `catalog::image_url`: an http(s) URL or a path on this server, without spaces,
    /// quotes or angle brackets; blank means none.
    pub fn image_url() -> RefOr<Schema> {
        let (s, f) = (SPACE, FORBIDDEN);
        let q = "\"'<>`";
        let rest = format!("[^{s}{f}{q}]");
        RefOr::T(Schema::Object(
            ObjectBuilder::new()
                .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
                    Type::String,
                    Type::Null,
                ]))
                .pattern(Some(format!(
                    "^[{s}]*(?:(?:https?://{rest}*|/(?:[^/{s}{f}{q}]{rest}*)?))?[{s}]*$"
                )))
                .description(Some(
                    "An http(s) URL or a path starting with a single / (at most 2048 bytes)",
                ))
                .build(),
        ))
    }

    /// `domain::show::cover_url`: an http(s) URL with a host, without spaces, quotes, angle
    /// brackets or backslashes; blank means none.
    pub fn cover_url() -> RefOr<Schema> {
        let (s, f) = (SPACE, FORBIDDEN);
        let q = "\"'<>`\\\\";
        RefOr::T(Schema::Object(
            ObjectBuilder::new()
                .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
                    Type::String,
                    Type::Null,
                ]))
                .pattern(Some(format!(
                    "^[{s}]*(?:https?://[^/{s}{f}{q}][^{s}{f}{q}]*)?[{s}]*$"
                )))
                .description(Some(
                    "The show's cover image: an http(s) URL (at most 2048 bytes); blank or null means none",
                ))
                .build(),
        ))
    }
}
