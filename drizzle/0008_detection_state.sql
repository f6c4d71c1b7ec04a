CREATE TABLE "detection_buckets" (
	"model_id" bigint NOT NULL,
	"group_key" text NOT NULL,
	"bucket" timestamp with time zone NOT NULL,
	"count" bigint NOT NULL,
	"alerted" boolean DEFAULT false NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	CONSTRAINT "detection_buckets_model_id_group_key_bucket_pk" PRIMARY KEY("model_id","group_key","bucket")
);
--> statement-breakpoint
CREATE TABLE "detection_hits" (
	"model_id" bigint NOT NULL,
	"rule" text NOT NULL,
	"group_key" text NOT NULL,
	"member" integer NOT NULL,
	"value" text,
	"at" timestamp with time zone NOT NULL,
	"event_id" bigint NOT NULL,
	"source" varchar(255) NOT NULL,
	"expires_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "detection_marks" (
	"model_id" bigint NOT NULL,
	"rule" text NOT NULL,
	"group_key" text NOT NULL,
	"fired_at" timestamp with time zone NOT NULL,
	"fired_until" timestamp with time zone NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	CONSTRAINT "detection_marks_model_id_rule_group_key_pk" PRIMARY KEY("model_id","rule","group_key")
);
--> statement-breakpoint
CREATE INDEX "detection_buckets_expires_at_idx" ON "detection_buckets" USING btree ("expires_at");--> statement-breakpoint
CREATE INDEX "detection_hits_group_at_idx" ON "detection_hits" USING btree ("model_id","rule","group_key","at");--> statement-breakpoint
CREATE INDEX "detection_hits_expires_at_idx" ON "detection_hits" USING brin ("expires_at");--> statement-breakpoint
CREATE INDEX "detection_marks_expires_at_idx" ON "detection_marks" USING btree ("expires_at");