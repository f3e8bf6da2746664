-- `provider_configs.timeout_ms` was stored but never applied: every upstream call had
-- the gateway's own whole-call timeout of 600 s. The gateway now applies the stored
-- value, so the column's old default (60000, on the seeded rows and on every row
-- created with the defaults) would have cut every provider's calls to 60 s on upgrade.
-- Rows holding that default get the value that was in effect instead; rows created
-- from now on get it too (ProviderConfig::new). Any other value an operator stored is
-- kept and is now applied.
UPDATE provider_configs SET timeout_ms = 600000 WHERE timeout_ms = 60000;
