-- Sessions, refresh tokens and password resets were kept for ever: every
-- token exchange adds a row (a device exchanging its token every 15 minutes
-- adds about a hundred a day), and every login a session. The retention sweep
-- (src/domain/session-retention.ts) deletes what can no longer be used, by
-- these two indexes:
--
-- refresh tokens by expiry: the exchanged ones once expired (a token presented
-- after its expiry is refused whether or not it is known, so reuse detection
-- loses nothing), and the newest of each session, to find the sessions that
-- lapsed (not used for REFRESH_TOKEN_TTL_SECONDS);
CREATE INDEX refresh_tokens_expiry ON refresh_tokens (expires_at);

-- ended sessions by when they ended, deleted SESSION_HISTORY_DAYS later
-- (partial: the live ones, most of the table, have none).
CREATE INDEX sessions_ended ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;
