-- hookline's embedded store. Records are JSON (with their version, which
-- conditions every rewrite); the columns beside them are what queries filter
-- and order on. Times are unix milliseconds.
CREATE TABLE IF NOT EXISTS subscriptions (
    id     TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS subscriptions_by_tenant ON subscriptions (tenant, id);
-- The operator's watch lists: the failing, and the disabled for failing.
CREATE INDEX IF NOT EXISTS subscriptions_failing ON subscriptions (json_extract(record, '$.failing_since'))
    WHERE json_extract(record, '$.failing_since') IS NOT NULL AND json_extract(record, '$.active');
CREATE INDEX IF NOT EXISTS subscriptions_disabled ON subscriptions (json_extract(record, '$.failing_since'))
    WHERE json_extract(record, '$.disabled_reason') IS NOT NULL AND NOT json_extract(record, '$.active');

-- Each tenant's routing version: moved by every write that changes where or
-- how its events go, so a publish reads this row, not every subscription.
CREATE TABLE IF NOT EXISTS routing (
    tenant  TEXT PRIMARY KEY,
    version INTEGER NOT NULL
);

-- A tenant's own record: its secret and its one-off delivery settings.
CREATE TABLE IF NOT EXISTS tenants (
    tenant TEXT PRIMARY KEY,
    record TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS events (
    id              TEXT PRIMARY KEY,
    tenant          TEXT NOT NULL,
    idempotency_key TEXT,
    created_at      INTEGER NOT NULL,
    record          TEXT NOT NULL,
    UNIQUE (tenant, idempotency_key)
);

CREATE TABLE IF NOT EXISTS deliveries (
    id              TEXT PRIMARY KEY,
    event_id        TEXT NOT NULL,
    tenant          TEXT NOT NULL,
    subscription_id TEXT,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL,
    due_at          INTEGER,
    created_at      INTEGER NOT NULL,
    record          TEXT NOT NULL,
    finished_at     INTEGER
);
CREATE INDEX IF NOT EXISTS deliveries_by_event ON deliveries (event_id);
CREATE INDEX IF NOT EXISTS deliveries_by_subscription ON deliveries (subscription_id, id);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (due_at) WHERE status = 'pending' AND due_at IS NOT NULL;

CREATE TABLE IF NOT EXISTS attempts (
    delivery_id TEXT NOT NULL,
    number      INTEGER NOT NULL,
    record      TEXT NOT NULL,
    PRIMARY KEY (delivery_id, number)
);

-- The durable delivery queue: a message is visible from visible_at; taking
-- it moves visible_at to the end of a lease, acknowledging deletes it.
-- last_error is why its last handling failed, kept for the dead letters.
-- grp is an ordered delivery's key: only its oldest message is ever
-- visible, the others wait with visible_at at the largest integer (the
-- index on it is made by the migration, which adds the column).
CREATE TABLE IF NOT EXISTS queue (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    message    TEXT NOT NULL,
    visible_at INTEGER NOT NULL,
    receives   INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    grp        TEXT
);
CREATE INDEX IF NOT EXISTS queue_by_visibility ON queue (visible_at);

-- Messages received too often without success (the DLQ of the embedded mode).
CREATE TABLE IF NOT EXISTS dead_letters (
    seq      INTEGER PRIMARY KEY,
    message  TEXT NOT NULL,
    receives INTEGER NOT NULL,
    died_at  INTEGER NOT NULL,
    reason   TEXT
);

-- The platform's declared event types (the portal's toggles).
CREATE TABLE IF NOT EXISTS event_types (
    name   TEXT PRIMARY KEY,
    record TEXT NOT NULL
);

-- Attempts by hour, and deliveries given up on (the portal's charts): scope is '*' for the service or a
-- subscription id; hour is unix seconds of the hour's start.
CREATE TABLE IF NOT EXISTS hourly_counts (
    scope     TEXT NOT NULL,
    hour      INTEGER NOT NULL,
    succeeded INTEGER NOT NULL,
    failed    INTEGER NOT NULL,
    gave_up   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (scope, hour)
);
CREATE INDEX IF NOT EXISTS hourly_counts_by_hour ON hourly_counts (hour);

-- Names taken once (a portal link's nonce), until a time (unix ms); the
-- purge forgets them the retention after that.
CREATE TABLE IF NOT EXISTS claims (
    name  TEXT PRIMARY KEY,
    until INTEGER NOT NULL
);
