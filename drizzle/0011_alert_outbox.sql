ALTER TABLE "alert_history" ADD COLUMN "tx" "xid8" DEFAULT pg_current_xact_id() NOT NULL;--> statement-breakpoint
CREATE INDEX "alert_history_tx_id_idx" ON "alert_history" USING btree ("tx","id");