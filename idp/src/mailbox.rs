//! The local mailbox: "emails" (passcodes) are stored here instead of being
//! sent. In `dev_mode` only, they are shown at `/mailbox`, as JSON at
//! `/mailbox/messages?email=…`, and logged. A development tool — never expose a
//! provider in `dev_mode` publicly.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use crate::html::{esc, page};
use crate::{db, Provider};

#[derive(Debug, Serialize)]
pub struct Message {
    pub to: String,
    pub subject: String,
    pub body: String,
    pub passcode: Option<String>,
    pub created_at: i64,
}

/// Delivers a message to the mailbox.
pub async fn send(
    p: &Provider,
    to: &str,
    subject: &str,
    body: &str,
    passcode: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO mailbox (recipient, subject, body, passcode, created_at) VALUES (?, ?, ?, ?, ?)")
        .bind(to)
        .bind(subject)
        .bind(body)
        .bind(passcode)
        .bind(db::now())
        .execute(&p.db)
        .await?;
    // A passcode is never logged, at any level, in any mode: logs travel
    // further than the mailbox (collectors, support tickets). Developers read
    // it at /mailbox (or /mailbox/messages from a terminal).
    if p.config.dev_mode {
        tracing::info!(to = ?to, subject = ?subject, "mail delivered to the local mailbox (read it at /mailbox)");
    } else {
        tracing::info!(to = ?to, subject = ?subject, "mail stored in the local mailbox");
    }
    Ok(())
}

async fn recent(p: &Provider, email: Option<&str>, limit: i64) -> Result<Vec<Message>, sqlx::Error> {
    let rows: Vec<(String, String, String, Option<String>, i64)> = match email {
        Some(e) => sqlx::query_as("SELECT recipient, subject, body, passcode, created_at FROM mailbox WHERE recipient = ? ORDER BY seq DESC LIMIT ?")
            .bind(e.trim())
            .bind(limit)
            .fetch_all(&p.db)
            .await?,
        None => sqlx::query_as("SELECT recipient, subject, body, passcode, created_at FROM mailbox ORDER BY seq DESC LIMIT ?")
            .bind(limit)
            .fetch_all(&p.db)
            .await?,
    };
    Ok(rows.into_iter().map(|r| Message { to: r.0, subject: r.1, body: r.2, passcode: r.3, created_at: r.4 }).collect())
}

#[derive(Debug, Deserialize)]
pub struct Filter {
    email: Option<String>,
}

/// `GET /mailbox/messages?email=…` — newest first.
pub async fn messages(State(p): State<Provider>, Query(f): Query<Filter>) -> Response {
    match recent(&p, f.email.as_deref(), 100).await {
        Ok(m) => Json(m).into_response(),
        Err(e) => {
            tracing::error!(error = ?e.to_string(), "mailbox read failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// `GET /mailbox` — the last 50 messages as a page.
pub async fn page_handler(p: &Provider) -> Response {
    match recent(p, None, 50).await {
        Ok(msgs) => {
            let rows: String = msgs
                .iter()
                .map(|m| {
                    let when = chrono::DateTime::from_timestamp(m.created_at, 0)
                        .map(|t| t.format("%H:%M:%S").to_string())
                        .unwrap_or_default();
                    format!(
                        "<tr><td>{}</td><td>{}</td><td>{}</td><td><strong>{}</strong></td></tr>",
                        esc(&when),
                        esc(&m.to),
                        esc(&m.body),
                        esc(m.passcode.as_deref().unwrap_or(""))
                    )
                })
                .collect();
            page(
                StatusCode::OK,
                "Mailbox",
                &format!("<h1>Mailbox</h1><p class=\"muted\">Messages the provider would have emailed, newest first.</p><table><tr><th>Time</th><th>To</th><th>Message</th><th>Passcode</th></tr>{rows}</table>"),
            )
        }
        Err(e) => {
            tracing::error!(error = ?e.to_string(), "mailbox read failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

pub async fn page_route(State(p): State<Provider>) -> Response {
    page_handler(&p).await
}
