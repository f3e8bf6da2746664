//! The client of a running gateway's admin API (`/admin/...`), with errors an operator
//! can act on: a server that is not running is one line, a refused key says which
//! variable to set.

use std::time::Duration;

use anyhow::{Context as _, anyhow};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;

use crate::error::usage;

/// Default gateway URL (`--url`, `AX_URL`).
pub const DEFAULT_URL: &str = "http://127.0.0.1:8080";

/// An error answer of the admin API.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// `error.code` of the body.
    pub code: String,
    /// `error.message` of the body.
    pub message: String,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl std::error::Error for ApiError {}

/// Why a call to the admin API failed.
#[derive(Debug)]
pub enum CallError {
    /// Nothing answers at the URL.
    Unreachable(String),
    /// The server answered with an error body.
    Api(ApiError),
    /// Anything else (timeouts, unexpected bodies).
    Other(anyhow::Error),
}

impl From<CallError> for anyhow::Error {
    fn from(e: CallError) -> Self {
        match e {
            CallError::Unreachable(line) => anyhow!(line),
            CallError::Api(api) => anyhow::Error::new(api),
            CallError::Other(e) => e,
        }
    }
}

/// A client of one gateway's admin API.
#[derive(Debug, Clone)]
pub struct AdminClient {
    base: Url,
    shown: String,
    key: Option<String>,
    http: reqwest::Client,
}

impl AdminClient {
    /// A client of the gateway at `url`, authenticating with `AX_ADMIN_KEY` when set.
    /// A URL that does not parse is a usage error.
    pub fn new(url: &str) -> anyhow::Result<Self> {
        Self::with_timeouts(url, Duration::from_secs(3), Duration::from_secs(15))
    }

    /// Like [`AdminClient::new`] with explicit connect and total timeouts.
    pub fn with_timeouts(url: &str, connect: Duration, total: Duration) -> anyhow::Result<Self> {
        let shown = url.trim_end_matches('/').to_owned();
        let base = Url::parse(&format!("{shown}/"))
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or_else(|| usage(format!("--url: `{url}` is not a URL like {DEFAULT_URL}")))?;
        let key = std::env::var("AX_ADMIN_KEY")
            .ok()
            .map(|k| k.trim().to_owned())
            .filter(|k| !k.is_empty());
        let http = reqwest::Client::builder()
            .connect_timeout(connect)
            .timeout(total)
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Self {
            base,
            shown,
            key,
            http,
        })
    }

    /// `GET path` (with `query`), decoded as `T`.
    pub async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<T, CallError> {
        self.call(Method::GET, path, query).await
    }

    /// `POST path`, decoded as `T`.
    pub async fn post<T: DeserializeOwned>(&self, path: &str) -> Result<T, CallError> {
        self.call(Method::POST, path, &[]).await
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<T, CallError> {
        let url = self
            .base
            .join(path.trim_start_matches('/'))
            .map_err(|e| CallError::Other(anyhow!("bad admin path {path}: {e}")))?;
        let mut req = self.http.request(method, url).query(query);
        if let Some(key) = &self.key {
            req = req.bearer_auth(key);
        }
        let resp = req.send().await.map_err(|e| self.transport(&e))?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| self.transport(&e))?;
        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|e| {
                CallError::Other(anyhow!(
                    "{} answered {path} with an unexpected body: {e}",
                    self.shown
                ))
            });
        }
        let parsed: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
        let field = |name: &str| {
            parsed
                .as_ref()
                .and_then(|v| v.pointer(&format!("/error/{name}")))
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        };
        let (Some(code), Some(message)) = (field("code"), field("message")) else {
            return Err(CallError::Other(anyhow!(
                "{} answered {path} with HTTP {status}; is it an ax gateway of this version?",
                self.shown
            )));
        };
        if status == StatusCode::UNAUTHORIZED {
            let hint = if self.key.is_some() {
                "AX_ADMIN_KEY does not match the server's admin key"
            } else {
                "set AX_ADMIN_KEY to the server's admin key"
            };
            return Err(CallError::Other(anyhow!(
                "the admin API at {} refused the request: {message} ({hint})",
                self.shown
            )));
        }
        Err(CallError::Api(ApiError {
            status,
            code,
            message,
        }))
    }

    fn transport(&self, e: &reqwest::Error) -> CallError {
        if e.is_connect() {
            CallError::Unreachable(format!(
                "cannot reach ax at {} (is `ax serve` running?)",
                self.shown
            ))
        } else if e.is_timeout() {
            CallError::Other(anyhow!("ax at {} did not answer in time", self.shown))
        } else {
            CallError::Other(anyhow!("request to ax at {} failed: {e}", self.shown))
        }
    }
}
