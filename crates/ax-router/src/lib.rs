//! Routing plans, retries, fallback, circuit breakers, health and rate limits.
