-- CreateTable
CREATE TABLE "devices" (
    "user_id" UUID NOT NULL,
    "device_id" VARCHAR(64) NOT NULL,
    "session_id" UUID NOT NULL,
    "platform" VARCHAR(8) NOT NULL,
    "token" VARCHAR(2048) NOT NULL,
    "keys" JSONB,
    "app_id" VARCHAR(128),
    "locale" VARCHAR(35),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "devices_pkey" PRIMARY KEY ("user_id","device_id")
);

-- CreateTable
CREATE TABLE "push_deliveries" (
    "id" UUID NOT NULL,
    "user_id" UUID NOT NULL,
    "device_id" VARCHAR(64) NOT NULL,
    "provider" VARCHAR(8) NOT NULL,
    "kind" VARCHAR(8) NOT NULL,
    "conversation_id" UUID,
    "seq" INTEGER,
    "payload" JSONB NOT NULL,
    "status" VARCHAR(8) NOT NULL DEFAULT 'queued',
    "reason" VARCHAR(200),
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "push_deliveries_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "devices_session_id_idx" ON "devices"("session_id");

-- CreateIndex
CREATE UNIQUE INDEX "devices_platform_token_key" ON "devices"("platform", "token");

-- CreateIndex
CREATE INDEX "push_deliveries_user_id_device_id_created_at_idx" ON "push_deliveries"("user_id", "device_id", "created_at");

-- CreateIndex
CREATE INDEX "push_deliveries_created_at_idx" ON "push_deliveries"("created_at");

-- AddForeignKey
ALTER TABLE "devices" ADD CONSTRAINT "devices_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "devices" ADD CONSTRAINT "devices_session_id_fkey" FOREIGN KEY ("session_id") REFERENCES "sessions"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "push_deliveries" ADD CONSTRAINT "push_deliveries_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- A device belongs to the session that registered it. Every way a session
-- ends (logout, ending one session or the others, password change, reset,
-- suspension, account deletion) sets revoked_at, so this trigger is the one
-- place that removes the devices of an ended session, with their deliveries.
CREATE FUNCTION devices_end_with_session() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM push_deliveries p USING devices d
   WHERE d.session_id = NEW.id AND p.user_id = d.user_id AND p.device_id = d.device_id;
  DELETE FROM devices WHERE session_id = NEW.id;
  RETURN NULL;
END
$$;

CREATE TRIGGER sessions_revoked_devices AFTER UPDATE OF revoked_at ON sessions
  FOR EACH ROW WHEN (OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL)
  EXECUTE FUNCTION devices_end_with_session();
