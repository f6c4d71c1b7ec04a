// Detection model schemas: request shapes validated on the way in, and the response shape that
// is the allow-list of what leaves the server (never the learned baseline or the training lease).
// Definitions are checked by compiling them (src/services/models.ts) after the schema has
// checked their shape.
import { MAX_GROUP_FIELDS } from '../../src/config.js'
import { FIELD_PATH } from '../../src/text.js'
import { Type } from '@sinclair/typebox'
import { MODEL_STATUSES, MODEL_TYPES } from '../../src/db/schema.js'
import { MAX_DESCRIPTION, namedExamples, PageQuery, StringEnum, Timestamp } from '../../src/schemas.js'

export const MAX_NAME = 200
export const MAX_VERSION = 50
/** Longest definition: 1 MiB of text (characters, as JSON Schema counts them). */
export const MAX_DEFINITION = 1024 * 1024
/** Longest metadata_json text. */
export const MAX_METADATA = 64 * 1024
/**
 * The body limit of the routes that take a definition: room for one at its longest however JSON
 * encodes it (up to 4 bytes a character) and the other fields, or BODY_LIMIT when that is larger.
 */
export const MODEL_BODY_LIMIT = 4 * MAX_DEFINITION + 4 * (MAX_DESCRIPTION + MAX_METADATA) + 64 * 1024

export const ModelTypeSchema = StringEnum(MODEL_TYPES, {
  description: 'sigma (Sigma YAML: rules and correlation rules) or anomaly_detection (the settings of a learned baseline, YAML or JSON)'
})
export const ModelStatusSchema = StringEnum(MODEL_STATUSES, {
  description: 'training, ready, failed or deprecated; only ready, active models run'
})

const Name = Type.String({ minLength: 1, maxLength: MAX_NAME, description: 'One line, trimmed; unique regardless of case' })
const Version = Type.String({ minLength: 1, maxLength: MAX_VERSION, description: "One line, trimmed (default '1.0.0')" })
const Description = Type.Union([Type.String({ maxLength: MAX_DESCRIPTION }), Type.Null()], { title: 'Description', description: 'Free text, or null' })
const MetadataJson = Type.Union([Type.String({ maxLength: MAX_METADATA }), Type.Null()], {
  title: 'Metadata (JSON text)',
  description: `JSON text the client keeps with the model (at most ${MAX_METADATA} characters), or null; must parse as JSON`
})
const Definition = Type.String({
  minLength: 1,
  maxLength: MAX_DEFINITION,
  description:
    'sigma: one or more Sigma YAML documents (rules, correlation rules); anomaly_detection: its settings as YAML or JSON ' +
    '(group_by, bucket, history, threshold, min_count, level, title, logsource). At most 1 MiB; compiled before it is stored.'
})
const IsActive = Type.Boolean({ description: 'Only active models run (default true)' })
const Status = StringEnum(MODEL_STATUSES, {
  description: 'training, ready, failed or deprecated (default ready); a change clears status_reason. POST /{id}/retrain is the way to train.'
})

const SIGMA_RULE = `title: SSH brute force source
id: 6e0c5a9e-2f3b-4a51-9d6f-0b8f3f1b2a10
status: stable
level: medium
tags: [attack.credential_access, attack.t1110]
logsource: {product: linux, service: sshd}
detection:
  failed:
    event.outcome: failure
    event.action: ssh_login
  condition: failed
`

const ANOMALY_SETTINGS = `group_by: source
bucket: 1h
history: 7d
threshold: 3
min_count: 10
level: high
`

const GroupAlerts = Type.Union([Type.Boolean(), Type.Null()], {
  title: 'Alert grouping',
  description: 'Group the repeats of the alerts it raises or matches into one alert: true or false, or null to follow ALERT_GROUPING'
})
const GroupBy = Type.Union(
  [Type.Array(Type.String({ pattern: FIELD_PATH.source, maxLength: 128 }), { minItems: 1, maxItems: MAX_GROUP_FIELDS, uniqueItems: true }), Type.Null()],
  { title: 'Fingerprint fields', description: 'The fields its alerts are grouped by (source, event_type, severity, rule, or record fields by dotted path), or null for ALERT_GROUP_BY' }
)

const fields = {
  name: Name,
  group_alerts: Type.Optional(GroupAlerts),
  group_by: Type.Optional(GroupBy),
  version: Type.Optional(Version),
  description: Type.Optional(Description),
  model_type: ModelTypeSchema,
  status: Type.Optional(Status),
  is_active: Type.Optional(IsActive),
  metadata_json: Type.Optional(MetadataJson),
  definition: Definition
}

export const ModelBody = Type.Object(fields, {
  additionalProperties: false,
  ...namedExamples({
    sigma: {
      summary: 'A Sigma rule',
      value: { name: 'SSH brute force source', model_type: 'sigma', description: 'Failed SSH logins.', definition: SIGMA_RULE }
    },
    anomaly: {
      summary: 'A learned baseline',
      description: 'Retrain it (POST /api/models/{id}/retrain) to learn its baseline from the stored events.',
      value: {
        name: 'Unusual event rate per source',
        model_type: 'anomaly_detection',
        version: '1.0.0',
        metadata_json: '{"owner": "soc"}',
        definition: ANOMALY_SETTINGS
      }
    }
  })
})

export const ModelPatch = Type.Object(
  {
    name: Type.Optional(Name),
    version: Type.Optional(Version),
    description: Type.Optional(Description),
    model_type: Type.Optional(ModelTypeSchema),
    status: Type.Optional(Status),
    is_active: Type.Optional(IsActive),
    metadata_json: Type.Optional(MetadataJson),
    definition: Type.Optional(Definition),
    group_alerts: Type.Optional(GroupAlerts),
    group_by: Type.Optional(GroupBy)
  },
  {
    additionalProperties: false,
    ...namedExamples({
      disable: { summary: 'Turn it off', value: { is_active: false } },
      deprecate: { summary: 'Deprecate it', value: { status: 'deprecated' } },
      group: { summary: 'Group its alerts by source address', value: { group_alerts: true, group_by: ['rule', 'source.ip'] } },
      version: { summary: 'A new version of its definition', value: { version: '1.1.0', definition: SIGMA_RULE.replace('level: medium', 'level: high') } }
    })
  }
)

const Creator = Type.Union(
  [Type.Object({ id: Type.Integer(), username: Type.String() }, { title: 'User reference' }), Type.Null()],
  { title: 'Creator', description: 'The user who created it; null once that user is deleted' }
)

const modelExample = {
  id: 4,
  name: 'SSH brute force source',
  version: '1.0.0',
  description: 'Failed SSH logins.',
  model_type: 'sigma',
  status: 'ready',
  status_reason: null,
  is_active: true,
  metadata_json: '{"owner": "soc"}',
  definition: SIGMA_RULE,
  group_alerts: null,
  group_by: null,
  matches: 12,
  last_matched_at: '2026-11-24T10:20:00.000Z',
  trained_at: null,
  created_by: { id: 1, username: 'admin' },
  created_at: '2026-11-24T10:05:00.000Z',
  updated_at: '2026-11-24T10:05:00.000Z'
}

export const ModelOut = Type.Object(
  {
    id: Type.Integer(),
    name: Type.String(),
    version: Type.String(),
    description: Type.Union([Type.String(), Type.Null()], { title: 'Description' }),
    model_type: ModelTypeSchema,
    status: ModelStatusSchema,
    status_reason: Type.Union([Type.String(), Type.Null()], { title: 'Status reason', description: 'Why the model is in its status (a failed training), or null' }),
    is_active: Type.Boolean(),
    metadata_json: Type.Union([Type.String(), Type.Null()], { title: 'Metadata (JSON text)' }),
    definition: Type.String(),
    group_alerts: GroupAlerts,
    group_by: GroupBy,
    matches: Type.Integer({ description: 'Events it matched (written every second)' }),
    last_matched_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], { title: 'Last matched at' }),
    trained_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], { title: 'Trained at', description: 'When its baseline was last learned (anomaly_detection)' }),
    created_by: Creator,
    created_at: Timestamp,
    updated_at: Timestamp
  },
  { title: 'Model', examples: [modelExample] }
)

export const RetrainOut = Type.Object(
  {
    message: Type.String(),
    model_id: Type.Integer(),
    status: ModelStatusSchema
  },
  {
    title: 'Retraining',
    examples: [{ message: 'Training started: the model is ready again once its baseline is learned.', model_id: 4, status: 'training' }]
  }
)

export const ModelQuery = Type.Object({
  ...PageQuery,
  status: Type.Optional(ModelStatusSchema),
  model_type: Type.Optional(ModelTypeSchema),
  is_active: Type.Optional(Type.Boolean({ description: 'true or false' })),
  q: Type.Optional(Type.String({ minLength: 1, maxLength: MAX_NAME, description: 'Case-insensitive substring of the name or the description' }))
})

/** Most records one dry run takes. */
export const MAX_TEST_RECORDS = 1000

export const TestBody = Type.Object(
  {
    records: Type.Array(Type.Object({}, { additionalProperties: true }), {
      maxItems: MAX_TEST_RECORDS,
      description: `Records as a shipper or client sends them (at most ${MAX_TEST_RECORDS}); native records show their attributes as top-level fields, as in ingestion`
    })
  },
  {
    additionalProperties: false,
    examples: [
      {
        records: [
          { MESSAGE: 'Failed password for root from 203.0.113.9 port 52144 ssh2', PROGRAM: 'sshd', HOST: 'bastion-01' },
          { MESSAGE: 'Accepted publickey for deploy from 10.0.0.4 port 50022 ssh2', PROGRAM: 'sshd', HOST: 'bastion-01' }
        ]
      }
    ]
  }
)

const Detection = Type.Object(
  {
    model_id: Type.Integer(),
    model_name: Type.String(),
    version: Type.String(),
    rule_id: Type.Union([Type.String(), Type.Null()]),
    title: Type.String(),
    level: Type.String()
  },
  { title: 'Dry-run detection' }
)

export const TestOut = Type.Object(
  {
    results: Type.Array(
      Type.Object({
        index: Type.Integer({ description: 'The place of the record in `records`' }),
        matched: Type.Boolean(),
        detections: Type.Array(Detection, { description: 'Every rule that matched, also rules that only feed a correlation' })
      })
    )
  },
  {
    title: 'Dry run',
    examples: [
      {
        results: [
          { index: 0, matched: true, detections: [{ model_id: 4, model_name: 'SSH brute force source', version: '1.0.0', rule_id: '6e0c5a9e-2f3b-4a51-9d6f-0b8f3f1b2a10', title: 'SSH brute force source', level: 'medium' }] },
          { index: 1, matched: false, detections: [] }
        ]
      }
    ]
  }
)

export const ImportBody = Type.String({
  minLength: 1,
  maxLength: 4 * MAX_DEFINITION,
  description: 'Sigma YAML: many documents separated by ---, rules and correlation rules',
  examples: [SIGMA_RULE]
})

export const ImportOut = Type.Object(
  {
    created: Type.Array(ModelOut, { description: 'One model per rule; a correlation with the rules it reads' }),
    errors: Type.Array(
      Type.Object({
        index: Type.Integer({ description: 'The place of the document in the text (0 is the first)' }),
        title: Type.Union([Type.String(), Type.Null()]),
        detail: Type.String({ description: 'Why it was not created, and where' })
      })
    )
  },
  {
    title: 'Import',
    examples: [{ created: [modelExample], errors: [{ index: 1, title: 'Broken rule', detail: "detection.sel.CommandLine|contians: unknown modifier 'contians'" }] }]
  }
)
