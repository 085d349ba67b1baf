-- Message search (README: Search, channels and invitations). Trigram
-- matching for parts of words, addresses and CJK text. pg_trgm is a trusted
-- extension (PostgreSQL 13 and later): the owner of the database may create
-- it without being a superuser. Both the embedded PostgreSQL and the Debian
-- postgresql-contrib packages ship it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
