//! Identities in Kratos shapes: the model, the identity schema (JSON Schema
//! draft-07) and storage. Used by the Admin API, the login flow, self-service
//! and config seeding.

use std::sync::OnceLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::db::{self, Db};

pub const DEFAULT_SCHEMA_ID: &str = "default";

/// Whether an identity may sign in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Active,
    Inactive,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Active => "active",
            State::Inactive => "inactive",
        }
    }
    fn parse(s: &str) -> Self {
        if s == "inactive" {
            State::Inactive
        } else {
            State::Active
        }
    }
}

/// A stored identity.
#[derive(Debug, Clone)]
pub struct Identity {
    pub id: String,
    pub schema_id: String,
    pub state: State,
    pub state_changed_at: i64,
    pub traits: Value,
    pub metadata_public: Option<Value>,
    pub metadata_admin: Option<Value>,
    pub verified_at: Option<i64>,
    address_id: String,
    recovery_id: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What can go wrong when writing an identity.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("{0}")]
    Schema(String),
    #[error("an identity with this email already exists")]
    Duplicate,
    #[error("identity not found")]
    NotFound,
    #[error("storage failed: {0}")]
    Db(#[from] sqlx::Error),
}

/// The JSON Schema of identity traits (`/schemas/ZGVmYXVsdA`).
pub fn schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        json!({
            "$id": "https://schemas.ory.sh/presets/kratos/identity.email.schema.json",
            "$schema": "http://json-schema.org/draft-07/schema#",
            "title": "Person",
            "type": "object",
            "properties": {
                "traits": {
                    "type": "object",
                    "properties": {
                        "email": {
                            "type": "string", "format": "email", "title": "E-Mail", "minLength": 3, "maxLength": 320,
                            "ory.sh/kratos": {
                                "credentials": { "password": { "identifier": true }, "webauthn": { "identifier": true } },
                                "verification": { "via": "email" },
                                "recovery": { "via": "email" }
                            }
                        },
                        "name": {
                            "type": "object",
                            "properties": {
                                "first": { "type": "string", "title": "First name", "maxLength": 200 },
                                "last": { "type": "string", "title": "Last name", "maxLength": 200 },
                                "academic-degree": { "type": "string", "title": "Academic degree", "maxLength": 100 }
                            },
                            "additionalProperties": false
                        }
                    },
                    "required": ["email"],
                    "additionalProperties": false
                }
            }
        })
    })
}

/// The schema id as it appears in `schema_url` (`default` → `ZGVmYXVsdA`).
pub fn schema_path_id(schema_id: &str) -> String {
    B64.encode(schema_id)
}

fn validator() -> &'static jsonschema::Validator {
    static V: OnceLock<jsonschema::Validator> = OnceLock::new();
    V.get_or_init(|| {
        let traits_schema = schema()["properties"]["traits"].clone();
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft7)
            .should_validate_formats(true)
            .build(&traits_schema)
            .unwrap_or_else(|e| panic!("the built-in identity schema is invalid: {e}"))
    })
}

/// Validates traits against the identity schema. The error names the field and the reason,
/// e.g. `traits.email: "x" is not a "email"`.
pub fn validate_traits(traits: &Value) -> Result<(), String> {
    let errors: Vec<String> = validator()
        .iter_errors(traits)
        .map(|e| {
            let path = e.instance_path.to_string();
            let field =
                if path.is_empty() { "traits".to_string() } else { format!("traits{}", path.replace('/', ".")) };
            format!("{field}: {e}")
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

pub(crate) fn rfc3339(ts: i64) -> String {
    chrono::DateTime::from_timestamp(ts, 0).unwrap_or_default().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

impl Identity {
    pub fn email(&self) -> &str {
        self.traits["email"].as_str().unwrap_or_default()
    }
    pub fn first_name(&self) -> Option<&str> {
        self.traits["name"]["first"].as_str()
    }
    pub fn last_name(&self) -> Option<&str> {
        self.traits["name"]["last"].as_str()
    }

    /// The Kratos JSON representation.
    pub fn to_json(&self, issuer_base: &str) -> Value {
        let email = self.email();
        let verified = self.verified_at.is_some();
        json!({
            "id": self.id,
            "schema_id": self.schema_id,
            "schema_url": format!("{issuer_base}schemas/{}", schema_path_id(&self.schema_id)),
            "state": self.state.as_str(),
            "state_changed_at": rfc3339(self.state_changed_at),
            "traits": self.traits,
            "verifiable_addresses": [{
                "id": self.address_id, "value": email, "verified": verified, "via": "email",
                "status": if verified { "completed" } else { "pending" },
                "verified_at": self.verified_at.map(rfc3339),
                "created_at": rfc3339(self.created_at), "updated_at": rfc3339(self.updated_at),
            }],
            "recovery_addresses": [{
                "id": self.recovery_id, "value": email, "via": "email",
                "created_at": rfc3339(self.created_at), "updated_at": rfc3339(self.updated_at),
            }],
            "metadata_public": self.metadata_public,
            "metadata_admin": self.metadata_admin,
            "created_at": rfc3339(self.created_at),
            "updated_at": rfc3339(self.updated_at),
        })
    }
}

type Row = (String, String, String, String, i64, Option<String>, Option<String>, Option<i64>, String, String, i64, i64);
const COLUMNS: &str = "id, schema_id, traits, state, state_changed_at, metadata_public, metadata_admin, verified_at, address_id, recovery_id, created_at, updated_at";

fn from_row(r: Row) -> Identity {
    let parse = |s: Option<String>| s.and_then(|s| serde_json::from_str(&s).ok());
    Identity {
        id: r.0,
        schema_id: r.1,
        traits: serde_json::from_str(&r.2).unwrap_or(Value::Null),
        state: State::parse(&r.3),
        state_changed_at: r.4,
        metadata_public: parse(r.5),
        metadata_admin: parse(r.6),
        verified_at: r.7,
        address_id: r.8,
        recovery_id: r.9,
        created_at: r.10,
        updated_at: r.11,
    }
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// What a create or full-replace update writes.
#[derive(Debug, Clone)]
pub struct IdentityInput {
    pub schema_id: String,
    pub traits: Value,
    pub state: State,
    pub metadata_public: Option<Value>,
    pub metadata_admin: Option<Value>,
}

impl IdentityInput {
    pub fn new(traits: Value) -> Self {
        Self {
            schema_id: DEFAULT_SCHEMA_ID.into(),
            traits,
            state: State::Active,
            metadata_public: None,
            metadata_admin: None,
        }
    }

    fn check(&self) -> Result<String, IdentityError> {
        if self.schema_id != DEFAULT_SCHEMA_ID {
            return Err(IdentityError::Schema(format!("schema_id: unknown identity schema {:?}", self.schema_id)));
        }
        validate_traits(&self.traits).map_err(IdentityError::Schema)?;
        Ok(self.traits["email"].as_str().unwrap_or_default().to_string())
    }
}

fn json_text(v: &Option<Value>) -> Option<String> {
    v.as_ref().filter(|v| !v.is_null()).map(Value::to_string)
}

pub async fn get(db: &Db, id: &str) -> Result<Option<Identity>, sqlx::Error> {
    let row: Option<Row> =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM identities WHERE id = ?")).bind(id).fetch_optional(db).await?;
    Ok(row.map(from_row))
}

/// The identity, if it exists and may sign in.
pub async fn active(db: &Db, id: &str) -> Result<Option<Identity>, sqlx::Error> {
    Ok(get(db, id).await?.filter(|i| i.state == State::Active))
}

pub async fn find_by_email(db: &Db, email: &str) -> Result<Option<Identity>, sqlx::Error> {
    let row: Option<Row> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM identities WHERE email = ?"))
        .bind(email.trim())
        .fetch_optional(db)
        .await?;
    Ok(row.map(from_row))
}

/// One page (0-based) of identities, oldest first, and the total count.
pub async fn list(db: &Db, page: i64, per_page: i64, email: Option<&str>) -> Result<(Vec<Identity>, i64), sqlx::Error> {
    let (rows, total): (Vec<Row>, i64) = match email {
        Some(email) => {
            let rows = sqlx::query_as(&format!("SELECT {COLUMNS} FROM identities WHERE email = ?"))
                .bind(email)
                .fetch_all(db)
                .await?;
            let total =
                sqlx::query_scalar("SELECT COUNT(*) FROM identities WHERE email = ?").bind(email).fetch_one(db).await?;
            (rows, total)
        }
        None => {
            let rows = sqlx::query_as(&format!(
                "SELECT {COLUMNS} FROM identities ORDER BY created_at, rowid LIMIT ? OFFSET ?"
            ))
            .bind(per_page)
            .bind(page.saturating_mul(per_page))
            .fetch_all(db)
            .await?;
            let total = sqlx::query_scalar("SELECT COUNT(*) FROM identities").fetch_one(db).await?;
            (rows, total)
        }
    };
    Ok((rows.into_iter().map(from_row).collect(), total))
}

pub async fn create(db: &Db, input: IdentityInput) -> Result<Identity, IdentityError> {
    let email = input.check()?;
    let now = db::now();
    let id = uuid::Uuid::new_v4().to_string();
    sqlx::query(
        "INSERT INTO identities (id, email, traits, schema_id, state, state_changed_at, metadata_public, metadata_admin, address_id, recovery_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&id)
    .bind(&email)
    .bind(input.traits.to_string())
    .bind(&input.schema_id)
    .bind(input.state.as_str())
    .bind(now)
    .bind(json_text(&input.metadata_public))
    .bind(json_text(&input.metadata_admin))
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(now)
    .bind(now)
    .execute(db)
    .await
    .map_err(|e| if is_unique_violation(&e) { IdentityError::Duplicate } else { IdentityError::Db(e) })?;
    get(db, &id).await?.ok_or(IdentityError::NotFound)
}

/// Full replace of traits, state and metadata.
pub async fn update(db: &Db, id: &str, input: IdentityInput) -> Result<Identity, IdentityError> {
    let email = input.check()?;
    let current = get(db, id).await?.ok_or(IdentityError::NotFound)?;
    let now = db::now();
    let state_changed_at = if current.state == input.state { current.state_changed_at } else { now };
    let verified_at = if current.email().eq_ignore_ascii_case(&email) { current.verified_at } else { None };
    sqlx::query(
        "UPDATE identities SET email = ?, traits = ?, state = ?, state_changed_at = ?, metadata_public = ?, metadata_admin = ?, verified_at = ?, updated_at = ? WHERE id = ?",
    )
    .bind(&email)
    .bind(input.traits.to_string())
    .bind(input.state.as_str())
    .bind(state_changed_at)
    .bind(json_text(&input.metadata_public))
    .bind(json_text(&input.metadata_admin))
    .bind(verified_at)
    .bind(now)
    .bind(id)
    .execute(db)
    .await
    .map_err(|e| if is_unique_violation(&e) { IdentityError::Duplicate } else { IdentityError::Db(e) })?;
    get(db, id).await?.ok_or(IdentityError::NotFound)
}

/// Deletes an identity and ends its provider sessions.
pub async fn delete(db: &Db, id: &str) -> Result<(), IdentityError> {
    let done = sqlx::query("DELETE FROM identities WHERE id = ?").bind(id).execute(db).await?;
    if done.rows_affected() == 0 {
        return Err(IdentityError::NotFound);
    }
    sqlx::query("DELETE FROM sessions WHERE identity_id = ?").bind(id).execute(db).await?;
    sqlx::query("DELETE FROM passkeys WHERE identity_id = ?").bind(id).execute(db).await?;
    sqlx::query("UPDATE grants SET revoked = 1 WHERE identity_id = ?").bind(id).execute(db).await?;
    Ok(())
}

/// Marks the identity's email as verified (a passcode sent to it was entered).
pub async fn mark_verified(db: &Db, id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE identities SET verified_at = COALESCE(verified_at, ?) WHERE id = ?")
        .bind(db::now())
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// Builds traits from an email and optional names, leaving out empty names.
pub fn traits_from(email: &str, first: Option<&str>, last: Option<&str>) -> Value {
    let mut name = serde_json::Map::new();
    if let Some(f) = first.map(str::trim).filter(|s| !s.is_empty()) {
        name.insert("first".into(), json!(f));
    }
    if let Some(l) = last.map(str::trim).filter(|s| !s.is_empty()) {
        name.insert("last".into(), json!(l));
    }
    let mut traits = json!({ "email": email.trim() });
    if !name.is_empty() {
        traits["name"] = Value::Object(name);
    }
    traits
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn schema_accepts_the_seed_example() {
        let t = json!({"email":"john.doe@example.com","name":{"first":"John","last":"Doe","academic-degree":"Dr."}});
        assert_eq!(validate_traits(&t), Ok(()));
    }

    #[test]
    fn schema_errors_name_field_and_reason() {
        let err = validate_traits(&json!({"email":"not-an-email"})).unwrap_err();
        assert!(err.starts_with("traits.email:"), "{err}");
        let err = validate_traits(&json!({"name":{"first":"A"}})).unwrap_err();
        assert!(err.contains("email"), "{err}");
        let err = validate_traits(&json!({"email":"a@example.com","name":{"middle":"x"}})).unwrap_err();
        assert!(err.contains("traits.name"), "{err}");
        let err = validate_traits(&json!({"email":"a@example.com","nick":"x"})).unwrap_err();
        assert!(err.contains("nick"), "{err}");
    }

    #[test]
    fn schema_path_id_matches_kratos() {
        assert_eq!(schema_path_id("default"), "ZGVmYXVsdA");
    }
}
