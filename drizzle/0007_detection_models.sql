CREATE TYPE "public"."model_status" AS ENUM('training', 'ready', 'failed', 'deprecated');--> statement-breakpoint
CREATE TYPE "public"."model_type" AS ENUM('sigma', 'anomaly_detection');--> statement-breakpoint
CREATE TABLE "models" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "models_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"name" varchar(200) NOT NULL,
	"version" varchar(50) DEFAULT '1.0.0' NOT NULL,
	"description" text,
	"model_type" "model_type" NOT NULL,
	"status" "model_status" DEFAULT 'ready' NOT NULL,
	"status_reason" text,
	"is_active" boolean DEFAULT true NOT NULL,
	"metadata_json" text,
	"definition" text NOT NULL,
	"baseline" jsonb,
	"trained_at" timestamp with time zone,
	"training_lease_until" timestamp with time zone,
	"matches" bigint DEFAULT 0 NOT NULL,
	"last_matched_at" timestamp with time zone,
	"created_by_id" bigint,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "alerts" ADD COLUMN "detections" jsonb;--> statement-breakpoint
ALTER TABLE "events" ADD COLUMN "detections" jsonb;--> statement-breakpoint
ALTER TABLE "models" ADD CONSTRAINT "models_created_by_id_users_id_fk" FOREIGN KEY ("created_by_id") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "models_name_lower_idx" ON "models" USING btree (lower("name"));--> statement-breakpoint
CREATE INDEX "models_created_at_id_idx" ON "models" USING btree ("created_at" DESC NULLS LAST,"id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "alerts_detections_idx" ON "alerts" USING gin ("detections" jsonb_path_ops);--> statement-breakpoint
-- Hand-written from here: every change to a model that the detection engine sees is announced on
-- the channel vigil_models (payload: the model's id, or '*' after a TRUNCATE) when its transaction
-- commits, so every instance compiles its models again (plugins/detection.ts). Updates of the
-- match counters (matches, last_matched_at), the training lease and the other columns the engine
-- does not read are not announced: the counters are written every second.
CREATE FUNCTION vigil_notify_model_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    PERFORM pg_notify('vigil_models', '*');
  ELSIF TG_OP = 'DELETE' THEN
    PERFORM pg_notify('vigil_models', OLD.id::text);
  ELSE
    PERFORM pg_notify('vigil_models', NEW.id::text);
  END IF;
  RETURN NULL;
END
$$;--> statement-breakpoint
CREATE TRIGGER models_notify_insert_delete AFTER INSERT OR DELETE ON models
  FOR EACH ROW EXECUTE FUNCTION vigil_notify_model_change();--> statement-breakpoint
CREATE TRIGGER models_notify_update AFTER UPDATE ON models
  FOR EACH ROW
  WHEN ((OLD.name, OLD.version, OLD.model_type, OLD.status, OLD.is_active, OLD.definition, OLD.baseline)
        IS DISTINCT FROM (NEW.name, NEW.version, NEW.model_type, NEW.status, NEW.is_active, NEW.definition, NEW.baseline))
  EXECUTE FUNCTION vigil_notify_model_change();--> statement-breakpoint
CREATE TRIGGER models_notify_truncate AFTER TRUNCATE ON models
  FOR EACH STATEMENT EXECUTE FUNCTION vigil_notify_model_change();
