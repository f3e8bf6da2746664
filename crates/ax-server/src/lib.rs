//! HTTP surface of ax: client endpoints, auth, admin API, metrics, dashboard.
