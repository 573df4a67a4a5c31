-- mfa fleet state, version 1 (docs/fleet.md). Applied by `mfa state migrate`
-- inside one transaction; never by a login.

-- A TOTP step a user's code was accepted for: the primary key is the claim
-- exactly one host wins (INSERT ... ON CONFLICT DO NOTHING). Rows older
-- than the window are pruned by the host that claims a newer one.
CREATE TABLE mfa_used_step (
    username text NOT NULL,
    step bigint NOT NULL,
    hostname text NOT NULL,
    used_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (username, step)
);

-- Scratch codes that were used, as SHA-256 digests: only dead codes are
-- here, so the table reveals nothing usable. Same claim as the steps.
CREATE TABLE mfa_used_scratch (
    username text NOT NULL,
    digest bytea NOT NULL,
    hostname text NOT NULL,
    used_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (username, digest)
);

-- The next HOTP counter to accept, advanced by compare-and-set only.
CREATE TABLE mfa_hotp (
    username text PRIMARY KEY,
    counter bigint NOT NULL CHECK (counter >= 0)
);

-- RATE_LIMIT: the attempt times (Unix seconds) inside the interval,
-- counted and appended by one upsert, whatever host the attempt is on.
CREATE TABLE mfa_rate (
    username text PRIMARY KEY,
    attempts bigint[] NOT NULL
);

-- grace_period: the last successful login per remote address.
CREATE TABLE mfa_grace (
    username text NOT NULL,
    rhost text NOT NULL,
    at bigint NOT NULL,
    PRIMARY KEY (username, rhost)
);

-- secrets = "postgres": the whole google_authenticator file (secret, every
-- option line, scratch codes), sealed under the hosts' key file.
CREATE TABLE mfa_secret (
    username text PRIMARY KEY,
    sealed bytea NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- One row per login decision, beside syslog. Append-only: the trigger
-- refuses UPDATE, DELETE and TRUNCATE whatever the role's grants say.
CREATE TABLE mfa_audit (
    id bigserial PRIMARY KEY,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    time bigint NOT NULL,
    hostname text NOT NULL,
    username text NOT NULL,
    rhost text,
    service text NOT NULL,
    factors text NOT NULL,
    decision text NOT NULL,
    reason text NOT NULL,
    session text
);

CREATE FUNCTION mfa_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'mfa_audit is append-only';
END;
$$;

CREATE TRIGGER mfa_audit_no_change BEFORE UPDATE OR DELETE ON mfa_audit
    FOR EACH ROW EXECUTE FUNCTION mfa_audit_append_only();
CREATE TRIGGER mfa_audit_no_truncate BEFORE TRUNCATE ON mfa_audit
    FOR EACH STATEMENT EXECUTE FUNCTION mfa_audit_append_only();
