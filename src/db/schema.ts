// The Drizzle schema: the one description of Vigil's tables. drizzle-kit generates the migrations
// in drizzle/ from this file; never edit a released migration by hand.
import { sql } from 'drizzle-orm'
import {
  bigint,
  boolean,
  check,
  customType,
  foreignKey,
  index,
  inet,
  integer,
  jsonb,
  pgEnum,
  pgSequence,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
  varchar
} from 'drizzle-orm/pg-core'
import type { Detection } from '../detection/types.js'

export const SEVERITIES = ['Low', 'Medium', 'High', 'Critical'] as const
export const EVENT_TYPES = ['intrusion', 'malware', 'anomaly'] as const
export const ALERT_STATUSES = ['Open', 'Acknowledged', 'Resolved'] as const
export const ROLES = ['admin', 'analyst', 'responder', 'viewer'] as const
export const INCIDENT_STATUSES = ['Open', 'Investigating', 'Contained', 'Resolved', 'Closed'] as const
export const ENTITY_TYPES = ['ip', 'domain', 'url', 'hostname', 'user', 'file_hash', 'email', 'other'] as const
export const MODEL_TYPES = ['sigma', 'anomaly_detection'] as const
export const MODEL_STATUSES = ['training', 'ready', 'failed', 'deprecated'] as const
/** What a resolved alert turned out to be (src/services/triage.ts). */
export const VERDICTS = ['true_positive', 'benign_positive', 'false_positive', 'duplicate', 'other'] as const
export const BULK_JOB_STATES = ['pending', 'running', 'done'] as const
/** The lists a saved view can filter. */
export const VIEW_LISTS = ['alerts', 'events', 'incidents'] as const

export type Severity = (typeof SEVERITIES)[number]
export type EventType = (typeof EVENT_TYPES)[number]
export type AlertStatus = (typeof ALERT_STATUSES)[number]
export type Role = (typeof ROLES)[number]
export type IncidentStatus = (typeof INCIDENT_STATUSES)[number]
export type EntityType = (typeof ENTITY_TYPES)[number]
export type ModelType = (typeof MODEL_TYPES)[number]
export type ModelStatus = (typeof MODEL_STATUSES)[number]
export type Verdict = (typeof VERDICTS)[number]
export type BulkJobState = (typeof BULK_JOB_STATES)[number]
export type ViewList = (typeof VIEW_LISTS)[number]

export const severityEnum = pgEnum('severity', SEVERITIES)
export const eventTypeEnum = pgEnum('event_type', EVENT_TYPES)
export const alertStatusEnum = pgEnum('alert_status', ALERT_STATUSES)
export const roleEnum = pgEnum('user_role', ROLES)
export const incidentStatusEnum = pgEnum('incident_status', INCIDENT_STATUSES)
export const entityTypeEnum = pgEnum('entity_type', ENTITY_TYPES)
export const modelTypeEnum = pgEnum('model_type', MODEL_TYPES)
export const modelStatusEnum = pgEnum('model_status', MODEL_STATUSES)
export const verdictEnum = pgEnum('alert_verdict', VERDICTS)
export const bulkJobStateEnum = pgEnum('bulk_job_state', BULK_JOB_STATES)
export const viewListEnum = pgEnum('view_list', VIEW_LISTS)

const createdAt = () => timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow()
const updatedAt = () => timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow()

export const users = pgTable(
  'users',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    username: varchar('username', { length: 150 }).notNull(),
    email: varchar('email', { length: 254 }),
    passwordHash: text('password_hash').notNull(),
    role: roleEnum('role').notNull().default('viewer'),
    isActive: boolean('is_active').notNull().default(true),
    // Bumped whenever a user's tokens must stop working (deactivation, role or password change);
    // every access token carries the version it was issued under.
    tokenVersion: integer('token_version').notNull().default(0),
    createdAt: createdAt(),
    updatedAt: updatedAt()
  },
  (t) => [
    // Usernames and emails are unique regardless of case: "Alice" and "alice" are one person.
    uniqueIndex('users_username_lower_idx').on(sql`lower(${t.username})`),
    uniqueIndex('users_email_lower_idx').on(sql`lower(${t.email})`)
  ]
)

// Events are partitioned by storage time (drizzle/0005_partitioned_events.sql, src/db/partitions.ts):
// a day per partition, so retention drops whole days. A partitioned table's unique keys must hold
// the partition key, so the key is (id, timestamp), ids come from a sequence of their own (the
// insert takes them before it writes), and (source, external_id) idempotency lives in event_keys.
export const eventsIdSeq = pgSequence('events_id_seq')

export const events = pgTable(
  'events',
  {
    id: bigint('id', { mode: 'number' })
      .notNull()
      .default(sql`nextval('events_id_seq')`),
    source: varchar('source', { length: 255 }).notNull(),
    eventType: eventTypeEnum('event_type').notNull(),
    severity: severityEnum('severity').notNull(),
    description: text('description').notNull().default(''),
    // Set by the server when the event is stored.
    timestamp: timestamp('timestamp', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    // The source's own time, when a shipper sends one.
    occurredAt: timestamp('occurred_at', { withTimezone: true, mode: 'date' }),
    // The sender's id: with source it makes shipper retries idempotent (event_keys).
    externalId: varchar('external_id', { length: 255 }),
    attributes: jsonb('attributes').$type<Record<string, unknown>>(),
    // What the detection models found in the event when it was stored (src/detection), or null.
    detections: jsonb('detections').$type<Detection[]>(),
    // The suppression that matched the event when it was stored: it raised no alert
    // (src/services/suppressions.ts). Suppressions are never deleted, only ended, so this stays valid.
    suppressionId: bigint('suppression_id', { mode: 'number' }),
    // When the event was last changed through the API (its storage time until then): what
    // clients that sync changes filter on (updated_since).
    updatedAt: updatedAt()
  },
  (t) => [
    primaryKey({ columns: [t.id, t.timestamp] }),
    // Each list filter has an index in the list's own order (src/pagination.ts): newest first, the
    // id breaking ties, so a page is read in order and never sorted (test/list-plans.test.ts).
    index('events_timestamp_id_idx').on(t.timestamp.desc(), t.id.desc()),
    index('events_severity_timestamp_id_idx').on(t.severity, t.timestamp.desc(), t.id.desc()),
    index('events_event_type_timestamp_id_idx').on(t.eventType, t.timestamp.desc(), t.id.desc()),
    index('events_source_timestamp_id_idx').on(t.source, t.timestamp.desc(), t.id.desc()),
    index('events_updated_at_id_idx').on(t.updatedAt.desc(), t.id.desc()),
    check('events_source_not_empty', sql`char_length(${t.source}) >= 1`)
  ]
)

/**
 * The (source, external_id) of every stored event that has one: the insert claims the key here
 * first (ON CONFLICT DO NOTHING) and stores only the events whose key it claimed, so a re-sent
 * record is a duplicate for as long as its event is kept. A key lives and dies with its event:
 * deleted with it, moved when an update changes it, dropped by retention with its day (by
 * event_timestamp, the event's storage time; BRIN, since keys arrive in time order).
 */
export const eventKeys = pgTable(
  'event_keys',
  {
    source: varchar('source', { length: 255 }).notNull(),
    externalId: varchar('external_id', { length: 255 }).notNull(),
    eventTimestamp: timestamp('event_timestamp', { withTimezone: true, mode: 'date' }).notNull()
  },
  (t) => [primaryKey({ columns: [t.source, t.externalId] }), index('event_keys_event_timestamp_idx').using('brin', t.eventTimestamp)]
)

export const alerts = pgTable(
  'alerts',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    // One alert per event at most: the unique index is what makes "exactly one" hold under races.
    eventId: bigint('event_id', { mode: 'number' }).notNull(),
    // The event's storage time: with event_id the reference to the event (its partition key), and
    // what retention deletes an expired day's alerts by.
    eventTimestamp: timestamp('event_timestamp', { withTimezone: true, mode: 'date' }).notNull(),
    status: alertStatusEnum('status').notNull().default('Open'),
    // Copied from the event so alert filters need no join.
    severity: severityEnum('severity').notNull(),
    eventType: eventTypeEnum('event_type').notNull(),
    source: varchar('source', { length: 255 }).notNull(),
    // The event's detections, copied so alerts can be found by model or rule (`@>`, the GIN index).
    detections: jsonb('detections').$type<Detection[]>(),
    // Triage (src/services/triage.ts). The assignee, and what a resolved alert turned out to be.
    assigneeId: bigint('assignee_id', { mode: 'number' }).references(() => users.id, { onDelete: 'set null' }),
    verdict: verdictEnum('verdict'),
    reason: text('reason'),
    tags: text('tags').array().notNull().default(sql`'{}'::text[]`),
    // The first time the alert left Open (time to acknowledge), and when it was last resolved
    // (time to resolve; cleared by a reopen).
    acknowledgedAt: timestamp('acknowledged_at', { withTimezone: true, mode: 'date' }),
    resolvedAt: timestamp('resolved_at', { withTimezone: true, mode: 'date' }),
    // Raised by hand by this user; null when the policy raised it.
    raisedById: bigint('raised_by_id', { mode: 'number' }).references(() => users.id, { onDelete: 'set null' }),
    // One more on every change: the ETag, and what If-Match compares.
    version: integer('version').notNull().default(1),
    // Grouping (src/services/grouping.ts): the repeats' fingerprint, how many events the alert
    // stands for, the first and last one's storage time (null, like the fingerprint, for an alert
    // that was not grouped: its one event is its creation), and the resolved alert of the same
    // fingerprint it follows.
    fingerprint: varchar('fingerprint', { length: 64 }),
    occurrences: integer('occurrences').notNull().default(1),
    firstSeen: timestamp('first_seen', { withTimezone: true, mode: 'date' }),
    lastSeen: timestamp('last_seen', { withTimezone: true, mode: 'date' }),
    previousAlertId: bigint('previous_alert_id', { mode: 'number' }),
    createdAt: createdAt(),
    updatedAt: updatedAt()
  },
  (t) => [
    uniqueIndex('alerts_event_id_idx').on(t.eventId),
    foreignKey({ name: 'alerts_event_fk', columns: [t.eventId, t.eventTimestamp], foreignColumns: [events.id, events.timestamp] }).onDelete('cascade').onUpdate('cascade'),
    index('alerts_event_timestamp_idx').on(t.eventTimestamp),
    // In the list's own order, as for events; severity with status is the triage queue's view.
    index('alerts_created_at_id_idx').on(t.createdAt.desc(), t.id.desc()),
    index('alerts_status_created_at_id_idx').on(t.status, t.createdAt.desc(), t.id.desc()),
    index('alerts_severity_created_at_id_idx').on(t.severity, t.createdAt.desc(), t.id.desc()),
    index('alerts_severity_status_created_at_id_idx').on(t.severity, t.status, t.createdAt.desc(), t.id.desc()),
    index('alerts_event_type_created_at_id_idx').on(t.eventType, t.createdAt.desc(), t.id.desc()),
    index('alerts_source_created_at_id_idx').on(t.source, t.createdAt.desc(), t.id.desc()),
    // With updated_since, a list is newest change first (src/services/alerts.ts alertList).
    index('alerts_updated_at_id_idx').on(t.updatedAt.desc(), t.id.desc()),
    index('alerts_detections_idx').using('gin', t.detections.op('jsonb_path_ops')),
    // At most one alert not yet resolved per fingerprint: what repeats fold into, even when
    // ingest statements race; and the latest resolved one, that a new alert follows.
    uniqueIndex('alerts_open_fingerprint_idx').on(t.fingerprint).where(sql`${t.fingerprint} is not null and ${t.status} <> 'Resolved'`),
    index('alerts_fingerprint_id_idx').on(t.fingerprint, t.id.desc()).where(sql`${t.fingerprint} is not null`),
    // The triage queue: mine, someone's, and nobody's (a btree finds `is null` too); by tag (`@>`).
    index('alerts_assignee_created_at_id_idx').on(t.assigneeId, t.createdAt.desc(), t.id.desc()),
    index('alerts_tags_idx').using('gin', t.tags),
    // Response times (src/services/alert-stats.ts) read only the alerts that left Open: new
    // alerts are not in this index, so raising one costs no entry in it.
    index('alerts_responded_created_at_idx').on(t.createdAt).where(sql`${t.acknowledgedAt} is not null or ${t.resolvedAt} is not null`)
  ]
)

/**
 * The events a grouped alert stands for, its first included (GET /api/alerts/{id}/events/). Only
 * grouped alerts have rows: an alert of one event names it in event_id. Written by the ingest
 * statement with the events; removed with the events by retention.
 */
export const alertEvents = pgTable(
  'alert_events',
  {
    alertId: bigint('alert_id', { mode: 'number' })
      .notNull()
      .references(() => alerts.id, { onDelete: 'cascade' }),
    eventId: bigint('event_id', { mode: 'number' }).notNull(),
    eventTimestamp: timestamp('event_timestamp', { withTimezone: true, mode: 'date' }).notNull()
  },
  (t) => [
    primaryKey({ columns: [t.alertId, t.eventId] }),
    foreignKey({ name: 'alert_events_event_fk', columns: [t.eventId, t.eventTimestamp], foreignColumns: [events.id, events.timestamp] }).onDelete('cascade'),
    index('alert_events_event_timestamp_idx').using('brin', t.eventTimestamp)
  ]
)

/**
 * Exceptions that expire (/api/suppressions/, admin): an event matching one is stored, flagged
 * with it (events.suppression_id), and raises no alert. Ended, never deleted, so every flag keeps
 * naming its suppression.
 */
export const suppressions = pgTable(
  'suppressions',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    // The match: every condition given must hold; at least one is given.
    source: varchar('source', { length: 255 }),
    eventType: eventTypeEnum('event_type'),
    severity: severityEnum('severity'),
    ruleId: varchar('rule_id', { length: 255 }),
    // Field path -> value, compared as text with the event's field (src/detection/record.ts).
    fields: jsonb('fields').$type<Record<string, string>>().notNull().default({}),
    reason: text('reason').notNull(),
    ownerId: bigint('owner_id', { mode: 'number' }).references(() => users.id, { onDelete: 'set null' }),
    expiresAt: timestamp('expires_at', { withTimezone: true, mode: 'date' }).notNull(),
    hits: bigint('hits', { mode: 'number' }).notNull().default(0),
    lastHitAt: timestamp('last_hit_at', { withTimezone: true, mode: 'date' }),
    createdById: bigint('created_by_id', { mode: 'number' }).references(() => users.id, { onDelete: 'set null' }),
    createdAt: createdAt(),
    updatedAt: updatedAt()
  },
  (t) => [index('suppressions_created_at_id_idx').on(t.createdAt.desc(), t.id.desc()), index('suppressions_expires_at_idx').on(t.expiresAt)]
)

/** Analysts' notes on an alert. */
export const alertComments = pgTable(
  'alert_comments',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    alertId: bigint('alert_id', { mode: 'number' })
      .notNull()
      .references(() => alerts.id, { onDelete: 'cascade' }),
    authorId: bigint('author_id', { mode: 'number' }).references(() => users.id, { onDelete: 'set null' }),
    // Kept as text too, so a comment still names its author after the user is deleted.
    author: varchar('author', { length: 255 }),
    body: text('body').notNull(),
    createdAt: createdAt()
  },
  (t) => [index('alert_comments_alert_created_at_id_idx').on(t.alertId, t.createdAt.desc(), t.id.desc())]
)

/** A PostgreSQL transaction id (xid8), as text: JavaScript numbers cannot hold every one. */
const xid8 = customType<{ data: string; driverData: string }>({ dataType: () => 'xid8' })

/**
 * Every change to an alert, with who, when, before and after (GET /api/alerts/{id}/history/),
 * the raise included; also the outbox of alert changes (src/services/alert-stream.ts). Written in
 * the transaction of the change (src/services/alert-history.ts, and the ingest statement).
 *
 * No foreign key to alerts: its check would run once per row on the ingest path, where every raise
 * writes one (most of what a history row costs there). Every writer has the alert in hand: made
 * in the same statement, locked (changeAlerts), or referenced by a row of its own transaction (a
 * comment, an incident link). A statement trigger on alerts deletes the history of the alerts a
 * statement deletes, set-based (drizzle/0014_alert_history_without_fk.sql).
 */
export const alertHistory = pgTable(
  'alert_history',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    alertId: bigint('alert_id', { mode: 'number' }).notNull(),
    createdAt: createdAt(),
    actorId: bigint('actor_id', { mode: 'number' }).references(() => users.id, { onDelete: 'set null' }),
    actor: varchar('actor', { length: 255 }),
    action: varchar('action', { length: 32 }).notNull(),
    before: jsonb('before'),
    after: jsonb('after'),
    // The writing transaction: the outbox cursor (src/services/alert-stream.ts). Ids
    // commit out of order; a reader takes only rows of transactions older than every one still
    // running, in (tx, id) order, so nothing committed is ever behind its cursor.
    tx: xid8('tx').notNull().default(sql`pg_current_xact_id()`)
  },
  (t) => [index('alert_history_alert_created_at_id_idx').on(t.alertId, t.createdAt.desc(), t.id.desc()), index('alert_history_tx_id_idx').on(t.tx, t.id)]
)

/**
 * A bulk change by filter (src/services/bulk-jobs.ts). The set of alerts is fixed when the job
 * starts (bulk_job_items); each batch deletes its items in the transaction that changes their
 * alerts, so a job resumed after a restart applies nothing twice.
 */
export const bulkJobs = pgTable(
  'bulk_jobs',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    createdById: bigint('created_by_id', { mode: 'number' }).references(() => users.id, { onDelete: 'set null' }),
    createdBy: varchar('created_by', { length: 255 }),
    state: bulkJobStateEnum('state').notNull().default('pending'),
    filter: jsonb('filter').notNull(),
    change: jsonb('change').notNull(),
    // Alerts created after the job was asked for are not in its set.
    maxAlertId: bigint('max_alert_id', { mode: 'number' }).notNull(),
    matched: bigint('matched', { mode: 'number' }).notNull().default(0),
    updated: bigint('updated', { mode: 'number' }).notNull().default(0),
    // Skipped alerts by why (e.g. {"transition_not_allowed": 3, "version_moved": 1}).
    skipped: jsonb('skipped').$type<Record<string, number>>().notNull().default({}),
    failed: bigint('failed', { mode: 'number' }).notNull().default(0),
    error: text('error'),
    createdAt: createdAt(),
    startedAt: timestamp('started_at', { withTimezone: true, mode: 'date' }),
    finishedAt: timestamp('finished_at', { withTimezone: true, mode: 'date' })
  },
  (t) => [index('bulk_jobs_state_idx').on(t.state).where(sql`${t.state} <> 'done'`), index('bulk_jobs_created_at_id_idx').on(t.createdAt.desc(), t.id.desc())]
)

export const bulkJobItems = pgTable(
  'bulk_job_items',
  {
    jobId: bigint('job_id', { mode: 'number' })
      .notNull()
      .references(() => bulkJobs.id, { onDelete: 'cascade' }),
    alertId: bigint('alert_id', { mode: 'number' }).notNull(),
    // The alert's version when the set was fixed: an alert changed since is skipped.
    version: integer('version').notNull()
  },
  (t) => [primaryKey({ columns: [t.jobId, t.alertId] })]
)

/** A user's named list filters (GET/POST/DELETE /api/views/), optionally shared with everyone. */
export const savedViews = pgTable(
  'saved_views',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    ownerId: bigint('owner_id', { mode: 'number' })
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    name: varchar('name', { length: 100 }).notNull(),
    list: viewListEnum('list').notNull().default('alerts'),
    filters: jsonb('filters').$type<Record<string, string | number | boolean>>().notNull(),
    shared: boolean('shared').notNull().default(false),
    createdAt: createdAt(),
    updatedAt: updatedAt()
  },
  (t) => [
    uniqueIndex('saved_views_owner_name_idx').on(t.ownerId, sql`lower(${t.name})`),
    index('saved_views_shared_idx').on(t.createdAt.desc(), t.id.desc()).where(sql`${t.shared}`)
  ]
)

/**
 * Alert counts per UTC hour of created_at and per severity, status, event type and source: what
 * stats read for the hours they cover whole (src/services/alert-stats.ts), instead of every alert.
 * Kept by src/services/alert-stats.ts: an hour is counted once it has closed (ended more than a
 * margin ago), and counted again after a change to its alerts; until then stats read its alerts.
 */
export const alertHours = pgTable(
  'alert_hours',
  {
    hour: timestamp('hour', { withTimezone: true, mode: 'date' }).notNull(),
    severity: severityEnum('severity').notNull(),
    status: alertStatusEnum('status').notNull(),
    eventType: eventTypeEnum('event_type').notNull(),
    source: varchar('source', { length: 255 }).notNull(),
    n: integer('n').notNull()
  },
  (t) => [primaryKey({ columns: [t.hour, t.severity, t.status, t.eventType, t.source] })]
)

/**
 * Closed hours whose counts are stale: marked by triggers on alerts (drizzle/0006) in the same
 * transaction as a change to an alert of a closed hour, cleared when the hour is counted again.
 */
export const alertHoursDirty = pgTable('alert_hours_dirty', {
  hour: timestamp('hour', { withTimezone: true, mode: 'date' }).primaryKey()
})

/** One row: every hour before `closed_until` has been counted into alert_hours. */
export const alertHoursState = pgTable(
  'alert_hours_state',
  {
    one: boolean('one').primaryKey().default(true),
    closedUntil: timestamp('closed_until', { withTimezone: true, mode: 'date' }).notNull()
  },
  (t) => [check('alert_hours_state_one_row', sql`${t.one}`)]
)

export const incidents = pgTable(
  'incidents',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    title: varchar('title', { length: 200 }).notNull(),
    description: text('description').notNull().default(''),
    severity: severityEnum('severity').notNull(),
    status: incidentStatusEnum('status').notNull().default('Open'),
    assigneeId: bigint('assignee_id', { mode: 'number' }).references(() => users.id, { onDelete: 'set null' }),
    createdById: bigint('created_by_id', { mode: 'number' }).references(() => users.id, { onDelete: 'set null' }),
    createdAt: createdAt(),
    updatedAt: updatedAt()
  },
  (t) => [
    index('incidents_created_at_id_idx').on(t.createdAt.desc(), t.id.desc()),
    index('incidents_status_created_at_id_idx').on(t.status, t.createdAt.desc(), t.id.desc()),
    index('incidents_assignee_created_at_id_idx').on(t.assigneeId, t.createdAt.desc(), t.id.desc())
  ]
)

export const incidentAlerts = pgTable(
  'incident_alerts',
  {
    incidentId: bigint('incident_id', { mode: 'number' })
      .notNull()
      .references(() => incidents.id, { onDelete: 'cascade' }),
    alertId: bigint('alert_id', { mode: 'number' })
      .notNull()
      .references(() => alerts.id, { onDelete: 'cascade' }),
    linkedAt: timestamp('linked_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow()
  },
  (t) => [primaryKey({ columns: [t.incidentId, t.alertId] }), index('incident_alerts_alert_idx').on(t.alertId)]
)

export const incidentEntities = pgTable(
  'incident_entities',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    incidentId: bigint('incident_id', { mode: 'number' })
      .notNull()
      .references(() => incidents.id, { onDelete: 'cascade' }),
    type: entityTypeEnum('type').notNull(),
    value: varchar('value', { length: 2048 }).notNull(),
    createdAt: createdAt()
  },
  (t) => [uniqueIndex('incident_entities_unique_idx').on(t.incidentId, t.type, t.value)]
)

export const ingestKeys = pgTable(
  'ingest_keys',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    name: varchar('name', { length: 100 }).notNull(),
    // SHA-256 of a 256-bit random secret: a fast hash is enough for a secret with that much
    // entropy, and ingestion checks it on every request.
    keyHash: varchar('key_hash', { length: 64 }).notNull(),
    // The first characters of the key, so operators can tell keys apart without the secret.
    prefix: varchar('prefix', { length: 16 }).notNull(),
    defaults: jsonb('defaults').notNull().default({}),
    createdById: bigint('created_by_id', { mode: 'number' }).references(() => users.id, { onDelete: 'set null' }),
    createdAt: createdAt(),
    lastUsedAt: timestamp('last_used_at', { withTimezone: true, mode: 'date' }),
    revokedAt: timestamp('revoked_at', { withTimezone: true, mode: 'date' })
  },
  (t) => [uniqueIndex('ingest_keys_key_hash_idx').on(t.keyHash)]
)

export const refreshTokens = pgTable(
  'refresh_tokens',
  {
    // The refresh token's jti claim.
    id: uuid('id').primaryKey(),
    // Every token produced by rotating one login shares a family; reuse of a rotated token
    // revokes the whole family.
    familyId: uuid('family_id').notNull(),
    userId: bigint('user_id', { mode: 'number' })
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    createdAt: createdAt(),
    expiresAt: timestamp('expires_at', { withTimezone: true, mode: 'date' }).notNull(),
    usedAt: timestamp('used_at', { withTimezone: true, mode: 'date' }),
    revokedAt: timestamp('revoked_at', { withTimezone: true, mode: 'date' })
  },
  (t) => [index('refresh_tokens_family_idx').on(t.familyId), index('refresh_tokens_user_idx').on(t.userId)]
)

export const auditLog = pgTable(
  'audit_log',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    createdAt: createdAt(),
    actorId: bigint('actor_id', { mode: 'number' }).references(() => users.id, { onDelete: 'set null' }),
    // Kept as text too, so the trail still names the actor after the user is deleted.
    actor: varchar('actor', { length: 255 }),
    action: varchar('action', { length: 64 }).notNull(),
    targetType: varchar('target_type', { length: 32 }),
    targetId: varchar('target_id', { length: 64 }),
    before: jsonb('before'),
    after: jsonb('after'),
    ip: inet('ip')
  },
  (t) => [
    index('audit_log_created_at_id_idx').on(t.createdAt.desc(), t.id.desc()),
    index('audit_log_action_created_at_id_idx').on(t.action, t.createdAt.desc(), t.id.desc()),
    index('audit_log_target_idx').on(t.targetType, t.targetId)
  ]
)

/**
 * Detection models: Sigma rules (and correlations) and learned baselines that every ingested event
 * is evaluated against (src/detection). A change to what the engine runs (name, version, type,
 * status, is_active, definition, baseline) is announced on vigil_models by a trigger
 * (drizzle/0007_detection_models.sql); the match counters are not.
 */
export const models = pgTable(
  'models',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    name: varchar('name', { length: 200 }).notNull(),
    version: varchar('version', { length: 50 }).notNull().default('1.0.0'),
    description: text('description'),
    modelType: modelTypeEnum('model_type').notNull(),
    status: modelStatusEnum('status').notNull().default('ready'),
    // Why the model is in its status (a failed training's error), or null.
    statusReason: text('status_reason'),
    isActive: boolean('is_active').notNull().default(true),
    // Free-form JSON text the client keeps with the model (checked to parse as JSON).
    metadataJson: text('metadata_json'),
    definition: text('definition').notNull(),
    // A learned baseline (anomaly_detection), written by training (src/detection/training.ts).
    baseline: jsonb('baseline'),
    trainedAt: timestamp('trained_at', { withTimezone: true, mode: 'date' }),
    // Until when one instance's trainer holds the model (status 'training').
    trainingLeaseUntil: timestamp('training_lease_until', { withTimezone: true, mode: 'date' }),
    matches: bigint('matches', { mode: 'number' }).notNull().default(0),
    // Alert grouping for the alerts this model raises or matches: null follows ALERT_GROUPING and
    // ALERT_GROUP_BY, true or false turns it on or off, group_by names its own fields.
    groupAlerts: boolean('group_alerts'),
    groupBy: text('group_by').array(),
    lastMatchedAt: timestamp('last_matched_at', { withTimezone: true, mode: 'date' }),
    createdById: bigint('created_by_id', { mode: 'number' }).references(() => users.id, { onDelete: 'set null' }),
    createdAt: createdAt(),
    updatedAt: updatedAt()
  },
  (t) => [
    // Names are unique regardless of case, like usernames.
    uniqueIndex('models_name_lower_idx').on(sql`lower(${t.name})`),
    index('models_created_at_id_idx').on(t.createdAt.desc(), t.id.desc())
  ]
)

export type User = typeof users.$inferSelect
export type Event = typeof events.$inferSelect
export type Alert = typeof alerts.$inferSelect
export type Incident = typeof incidents.$inferSelect
export type IncidentEntity = typeof incidentEntities.$inferSelect
export type IngestKey = typeof ingestKeys.$inferSelect
export type Model = typeof models.$inferSelect
export type AlertComment = typeof alertComments.$inferSelect
export type AlertHistoryEntry = typeof alertHistory.$inferSelect
export type BulkJob = typeof bulkJobs.$inferSelect
export type SavedView = typeof savedViews.$inferSelect
export type Suppression = typeof suppressions.$inferSelect

// Login attempt counters shared by every instance on this database (src/services/rate-limits.ts):
// one row per key (client IP or username) and fixed window; expired rows are swept.
export const rateLimits = pgTable('rate_limits', {
  key: varchar('key', { length: 320 }).primaryKey(),
  hits: integer('hits').notNull(),
  expiresAt: timestamp('expires_at', { withTimezone: true, mode: 'date' }).notNull()
})

// Detection state (src/detection/state.ts, anomaly.ts), shared by every instance. A correlation
// hit: one stored event matched one of a correlation's rules, in a group. Written by the ingest
// statement with its event; swept once past every window that could use it (expires_at). No
// foreign key to models: an ingest statement must not fail because a model was deleted meanwhile
// (the engine still held it); the hits of a deleted model are simply swept.
export const detectionHits = pgTable(
  'detection_hits',
  {
    modelId: bigint('model_id', { mode: 'number' }).notNull(),
    /** The correlation's rule id. */
    rule: text('rule').notNull(),
    /** The group-by values as JSON text. */
    groupKey: text('group_key').notNull(),
    /** Which of the correlation's rules matched (its place in `rules`). */
    member: integer('member').notNull(),
    /** value_count: the counted field's value. */
    value: text('value'),
    /** The event's own time (occurred_at, else its storage time). */
    at: timestamp('at', { withTimezone: true, mode: 'date' }).notNull(),
    eventId: bigint('event_id', { mode: 'number' }).notNull(),
    source: varchar('source', { length: 255 }).notNull(),
    expiresAt: timestamp('expires_at', { withTimezone: true, mode: 'date' }).notNull()
  },
  (t) => [
    // The one index ingestion maintains per hit; the sweep's is a BRIN (hits arrive in time order).
    index('detection_hits_group_at_idx').on(t.modelId, t.rule, t.groupKey, t.at),
    index('detection_hits_expires_at_idx').using('brin', t.expiresAt)
  ]
)

/** When a correlation last fired for a group: the same window never fires twice. (No foreign keys, as for hits.) */
export const detectionMarks = pgTable(
  'detection_marks',
  {
    modelId: bigint('model_id', { mode: 'number' }).notNull(),
    rule: text('rule').notNull(),
    groupKey: text('group_key').notNull(),
    firedAt: timestamp('fired_at', { withTimezone: true, mode: 'date' }).notNull(),
    /** Nothing fires again for the group before this (the firing's window). */
    firedUntil: timestamp('fired_until', { withTimezone: true, mode: 'date' }).notNull(),
    expiresAt: timestamp('expires_at', { withTimezone: true, mode: 'date' }).notNull()
  },
  (t) => [primaryKey({ columns: [t.modelId, t.rule, t.groupKey] }), index('detection_marks_expires_at_idx').on(t.expiresAt)]
)

/** A learned baseline's live count: events per group and bucket, and whether the bucket alerted. */
export const detectionBuckets = pgTable(
  'detection_buckets',
  {
    modelId: bigint('model_id', { mode: 'number' }).notNull(),
    groupKey: text('group_key').notNull(),
    bucket: timestamp('bucket', { withTimezone: true, mode: 'date' }).notNull(),
    count: bigint('count', { mode: 'number' }).notNull(),
    alerted: boolean('alerted').notNull().default(false),
    expiresAt: timestamp('expires_at', { withTimezone: true, mode: 'date' }).notNull()
  },
  (t) => [primaryKey({ columns: [t.modelId, t.groupKey, t.bucket] }), index('detection_buckets_expires_at_idx').on(t.expiresAt)]
)

/**
 * Single-use tickets for the alert stream (browsers' EventSource cannot send a bearer token):
 * only the ticket's SHA-256 is kept, and redeeming deletes it, on whichever instance it is used.
 */
export const streamTickets = pgTable(
  'stream_tickets',
  {
    hash: varchar('hash', { length: 64 }).primaryKey(),
    userId: bigint('user_id', { mode: 'number' })
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    expiresAt: timestamp('expires_at', { withTimezone: true, mode: 'date' }).notNull(),
    createdAt: createdAt()
  },
  (t) => [index('stream_tickets_expires_at_idx').on(t.expiresAt)]
)

// --- Webhooks (issue 13): subscriptions fed from the alert outbox (src/services/webhooks.ts) ---

export const WEBHOOK_DELIVERY_STATES = ['pending', 'delivered', 'failed'] as const
export type WebhookDeliveryState = (typeof WEBHOOK_DELIVERY_STATES)[number]
export const webhookDeliveryStateEnum = pgEnum('webhook_delivery_state', WEBHOOK_DELIVERY_STATES)

/**
 * A webhook subscription. Its secret signs every delivery (Standard Webhooks); during a rotation
 * the previous one signs too until previous_secret_until. The cursor (cursor_tx, cursor_id) is its
 * position in the alert outbox (src/services/alert-stream.ts): fan-out moves it in the transaction
 * that inserts the deliveries, holding the row FOR UPDATE.
 */
export const webhooks = pgTable(
  'webhooks',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    name: varchar('name', { length: 100 }).notNull(),
    url: text('url').notNull(),
    // Empty: every type.
    eventTypes: text('event_types').array().notNull().default(sql`'{}'::text[]`),
    // An alert-list filter (routes/alerts/schema.ts AlertQuery, without paging).
    filter: jsonb('filter').$type<Record<string, unknown>>().notNull().default({}),
    active: boolean('active').notNull().default(true),
    secret: text('secret').notNull(),
    previousSecret: text('previous_secret'),
    previousSecretUntil: timestamp('previous_secret_until', { withTimezone: true, mode: 'date' }),
    cursorTx: xid8('cursor_tx').notNull(),
    cursorId: bigint('cursor_id', { mode: 'number' }).notNull().default(0),
    disabledReason: text('disabled_reason'),
    // Since when every attempt failed (null once one succeeds): WEBHOOK_DISABLE_AFTER_DAYS counts from it.
    failingSince: timestamp('failing_since', { withTimezone: true, mode: 'date' }),
    createdById: bigint('created_by_id', { mode: 'number' }).references(() => users.id, { onDelete: 'set null' }),
    createdAt: createdAt(),
    updatedAt: updatedAt()
  },
  (t) => [index('webhooks_created_at_id_idx').on(t.createdAt.desc(), t.id.desc())]
)

/**
 * One outbox change to deliver to one webhook. message_id is the `webhook-id` header, the same on
 * every attempt; payload is the body exactly as sent. A delivery is attempted by one instance at a
 * time: it is claimed by setting lease_until (and lease_token), and a crashed instance's lease expires.
 */
export const webhookDeliveries = pgTable(
  'webhook_deliveries',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    webhookId: bigint('webhook_id', { mode: 'number' })
      .notNull()
      .references(() => webhooks.id, { onDelete: 'cascade' }),
    // The alert_history row delivered (null for a test message).
    changeId: bigint('change_id', { mode: 'number' }),
    messageId: varchar('message_id', { length: 64 }).notNull(),
    type: varchar('type', { length: 64 }).notNull(),
    payload: text('payload').notNull(),
    state: webhookDeliveryStateEnum('state').notNull().default('pending'),
    attempts: integer('attempts').notNull().default(0),
    // The position in the retry schedule (a redelivery starts it again).
    step: integer('step').notNull().default(0),
    nextAttemptAt: timestamp('next_attempt_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    leaseUntil: timestamp('lease_until', { withTimezone: true, mode: 'date' }),
    leaseToken: uuid('lease_token'),
    lastStatus: integer('last_status'),
    lastError: text('last_error'),
    lastLatencyMs: integer('last_latency_ms'),
    deliveredAt: timestamp('delivered_at', { withTimezone: true, mode: 'date' }),
    createdAt: createdAt()
  },
  (t) => [
    uniqueIndex('webhook_deliveries_message_id_idx').on(t.messageId),
    uniqueIndex('webhook_deliveries_webhook_change_idx').on(t.webhookId, t.changeId),
    // The due query: pending ones by when they are due.
    index('webhook_deliveries_due_idx').on(t.nextAttemptAt, t.id).where(sql`${t.state} = 'pending'`),
    // Outbox order per webhook: the oldest pending one goes first.
    index('webhook_deliveries_pending_idx').on(t.webhookId, t.id).where(sql`${t.state} = 'pending'`),
    // The delivery log, newest first with the id as tie-breaker.
    index('webhook_deliveries_webhook_created_at_id_idx').on(t.webhookId, t.createdAt.desc(), t.id.desc())
  ]
)

/** Every attempt of a delivery: when, the status (null: no answer), the error, the latency, the start of the answer. */
export const webhookAttempts = pgTable(
  'webhook_attempts',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    deliveryId: bigint('delivery_id', { mode: 'number' })
      .notNull()
      .references(() => webhookDeliveries.id, { onDelete: 'cascade' }),
    at: timestamp('at', { withTimezone: true, mode: 'date' }).notNull(),
    status: integer('status'),
    error: text('error'),
    latencyMs: integer('latency_ms').notNull(),
    // At most 1 KiB of the answer's body, control characters removed.
    response: text('response')
  },
  (t) => [index('webhook_attempts_delivery_id_idx').on(t.deliveryId, t.id)]
)

export type Webhook = typeof webhooks.$inferSelect
export type WebhookDelivery = typeof webhookDeliveries.$inferSelect
export type WebhookAttempt = typeof webhookAttempts.$inferSelect
