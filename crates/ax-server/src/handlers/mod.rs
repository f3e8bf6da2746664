//! HTTP handlers, one module per surface.

pub mod admin;
pub mod admin_error;
pub mod anthropic;
pub mod gemini;
pub mod openai;
pub mod ops;
pub mod tenants;
