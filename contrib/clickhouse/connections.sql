-- tlsready's connection rows in ClickHouse: the JSON lines of
-- `tlsready analyze --json`, `capture --json` or `tally --json` load as they
-- are (JSONEachRow: keys are the column names, a missing key is an empty
-- cell; keys not listed here are skipped with input_format_skip_unknown_fields).
--
--   clickhouse-client --multiquery < contrib/clickhouse/connections.sql
--   clickhouse-client --query "INSERT INTO tlsready.connections
--       SETTINGS input_format_skip_unknown_fields = 1, date_time_input_format = 'best_effort'
--       FORMAT JSONEachRow" < conns.jsonl
--
-- `sensor` is not in the rows: set it per load (DEFAULT, or
-- `INSERT INTO ... (..., sensor) SELECT *, 'site-a' FROM file(...)`).

CREATE DATABASE IF NOT EXISTS tlsready;

CREATE TABLE IF NOT EXISTS tlsready.connections
(
    ts                 DateTime64(6, 'UTC'),
    client_ip          String,
    client_port        UInt16,
    server_ip          String,
    server_port        UInt16,
    protocol           LowCardinality(String),
    sni                String,
    client_max_version LowCardinality(String),
    negotiated_version LowCardinality(String),
    cipher             LowCardinality(String),
    alpn               LowCardinality(String),
    status             LowCardinality(String),
    m365               LowCardinality(String),
    m365_service       LowCardinality(String),
    m365_match         LowCardinality(String),
    m365_endpoint_id   Nullable(UInt32),
    legacy_endpoint    LowCardinality(String),
    client_helo        String,
    server_banner      String,
    ja4                String,
    ja3                String,
    client_version     LowCardinality(String),
    cert_names         Array(String),
    alert              LowCardinality(String),
    hello_retry        LowCardinality(String),
    last_ts            DateTime64(6, 'UTC'),
    packets            UInt64,
    m365_data          LowCardinality(String),
    dns_name           String,
    client_name        String,
    client_name_source LowCardinality(String),
    client_mac         String,
    sensor             LowCardinality(String) DEFAULT ''
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (client_ip, ts);

-- Tables made before these columns existed (tlsready 2026-12) gain them here.
ALTER TABLE tlsready.connections ADD COLUMN IF NOT EXISTS dns_name String AFTER m365_data;
ALTER TABLE tlsready.connections ADD COLUMN IF NOT EXISTS client_name String AFTER dns_name;
ALTER TABLE tlsready.connections
    ADD COLUMN IF NOT EXISTS client_name_source LowCardinality(String) AFTER client_name;
ALTER TABLE tlsready.connections ADD COLUMN IF NOT EXISTS client_mac String AFTER client_name_source;
