// Elasticsearch shapes, as the official clients, Logstash, Beats and rsyslog parse them.
import { Type } from '@sinclair/typebox'
import type { ErrorCode } from '../../src/errors.js'
import { ErrorCodeSchema, RawBody } from '../../src/schemas.js'

export const ES_VERSION = '8.15.0'

const Cause = Type.Object({ type: Type.String(), reason: Type.String() })

export const EsError = Type.Object(
  {
    error: Type.Object({ root_cause: Type.Array(Cause), type: Type.String(), reason: Type.String() }),
    status: Type.Integer(),
    code: ErrorCodeSchema,
    detail: Type.String({ description: "Vigil's explanation, as in every Vigil error" })
  },
  {
    title: 'Elasticsearch error',
    description: "Elasticsearch's error shape, with Vigil's `code` and `detail` as in every Vigil error",
    examples: [esExample(401, 'security_exception', 'not_authenticated', 'Authentication credentials were not provided.')]
  }
)

function esExample(status: number, type: string, code: ErrorCode, detail: string) {
  return { error: { root_cause: [{ type, reason: detail }], type, reason: detail }, status, code, detail }
}

/** Each error status of these routes: what it means here, with the body an Elasticsearch client reads. */
const ES_ERRORS: Record<number, typeof EsError> = Object.fromEntries(
  (
    [
      [400, 'The body cannot be read: a malformed action line, no actions, or not NDJSON', esExample(400, 'illegal_argument_exception', 'malformed_request', 'Malformed action/metadata line [1]: expected {"index"|"create": {...}}.')],
      [401, 'No credentials, or an unknown or revoked ingest key: send an ingest key (ApiKey, Basic password, Bearer) or an admin token', esExample(401, 'security_exception', 'not_authenticated', 'Authentication credentials were not provided.')],
      [403, 'Your role may not ingest events: only admins and ingest keys may', esExample(403, 'security_exception', 'permission_denied', 'You do not have permission to perform this action.')],
      [413, 'Too large: over INGEST_MAX_BODY_BYTES, over the decompressed limit, or too many records', esExample(413, 'content_too_long_exception', 'payload_too_large', 'The request body is too large.')],
      [415, 'Unknown Content-Encoding (gzip, deflate and identity are read)', esExample(415, 'illegal_argument_exception', 'unsupported_encoding', 'Unsupported Content-Encoding "br"; use gzip, deflate or none.')],
      [503, 'The database does not answer: retry after the Retry-After seconds', esExample(503, 'es_rejected_execution_exception', 'database_unavailable', 'The database is unavailable; retry later.')]
    ] as const
  ).map(([status, description, example]) => [status, { ...EsError, 'x-response-description': description, examples: [example] } as typeof EsError])
)

export const esErrors = (...codes: number[]) => Object.fromEntries(codes.map((c) => [c, ES_ERRORS[c]]))

/** The 400 of the routes without a body: the index in the path is not valid. */
export const ES_INVALID_INDEX = {
  ...EsError,
  'x-response-description': 'The index name in the path is not valid (1 to 255 characters)',
  examples: [esExample(400, 'illegal_argument_exception', 'validation_failed', "Invalid path parameter 'index': Ensure this field has no more than 255 characters.")]
} as typeof EsError

const ItemStatus = Type.Object({
  _index: Type.String(),
  _id: Type.Union([Type.String(), Type.Null()]),
  _version: Type.Optional(Type.Integer()),
  result: Type.Optional(Type.String({ description: 'created, or noop for an index of a document already stored' })),
  status: Type.Integer({
    description: '201 created, 200 already stored (index), 409 already stored (create), 400 refused, 429 not stored: Vigil busy or its database unavailable, retry'
  }),
  error: Type.Optional(Cause)
})

export const BulkReply = Type.Object(
  {
    took: Type.Integer({ description: 'Milliseconds' }),
    errors: Type.Boolean({ description: 'True when any item has a status of 400 or more' }),
    items: Type.Array(
      Type.Object({
        index: Type.Optional(ItemStatus),
        create: Type.Optional(ItemStatus),
        update: Type.Optional(ItemStatus),
        delete: Type.Optional(ItemStatus)
      }),
      { description: 'One per action, in request order' }
    )
  },
  {
    title: 'Bulk reply',
    description: 'One item per action: 201 created, 200 or 409 already stored, 400 refused, 429 retry (Vigil busy)',
    examples: [
      {
        took: 12,
        errors: false,
        items: [{ create: { _index: 'security-events', _id: 'OK-1', _version: 1, result: 'created', status: 201 } }]
      }
    ]
  }
)

const actions = (id: string, message: string) =>
  `{"create":{"_index":"security-events","_id":"${id}"}}\n` +
  `{"@timestamp":"2026-11-23T20:07:55.496Z","message":"${message}","host":{"name":"fw01"},"log":{"level":"error"},"event":{"category":"intrusion_detection"}}\n`

export const BulkBody = RawBody(
  'NDJSON action and document pairs (index or create actions); any content type; Content-Encoding gzip or deflate.',
  {
    'application/x-ndjson': { example: actions('OK-1', 'auth failure'), description: 'Action and document lines (NDJSON), as the clients send them' },
    'application/vnd.elasticsearch+x-ndjson': {
      example: actions('OK-2', 'auth failure again'),
      description: 'The same, as Elasticsearch 8 clients label it'
    }
  }
)

export const IndexParams = Type.Object({
  index: Type.String({ minLength: 1, maxLength: 255, description: 'The target index, for actions that name none' })
})

export const BulkQuery = Type.Object(
  {
    refresh: Type.Optional(Type.String({ description: 'Accepted; events are searchable once the reply is sent' })),
    pipeline: Type.Optional(Type.String({ description: 'Accepted and ignored' })),
    filter_path: Type.Optional(Type.String({ description: 'Accepted; the full reply is sent' }))
  },
  { additionalProperties: true }
)

export const NodeInfo = Type.Object({
  name: Type.String(),
  cluster_name: Type.String(),
  cluster_uuid: Type.String(),
  version: Type.Object({
    number: Type.String(),
    build_flavor: Type.String(),
    build_type: Type.String(),
    build_hash: Type.String(),
    build_date: Type.String(),
    build_snapshot: Type.Boolean(),
    lucene_version: Type.String(),
    minimum_wire_compatibility_version: Type.String(),
    minimum_index_compatibility_version: Type.String()
  }),
  tagline: Type.String()
}, {
  title: 'Node information',
  description: 'Who answers: an Elasticsearch 8 compatible node',
  examples: [
    {
      name: 'vigil',
      cluster_name: 'vigil',
      cluster_uuid: 'vigil-0000000000000000',
      version: {
        number: '8.15.0',
        build_flavor: 'default',
        build_type: 'vigil',
        build_hash: 'vigil',
        build_date: '2026-11-24T00:00:00.000Z',
        build_snapshot: false,
        lucene_version: '9.11.1',
        minimum_wire_compatibility_version: '7.17.0',
        minimum_index_compatibility_version: '7.0.0'
      },
      tagline: 'You Know, for Search'
    }
  ]
})

export const CatQuery = Type.Object(
  {
    format: Type.Optional(Type.String({ description: '"json" for a JSON array; text otherwise' })),
    v: Type.Optional(Type.String({ description: 'Include the header line (text format)' }))
  },
  { additionalProperties: true }
)

export const CatHealthRow = Type.Object({
  epoch: Type.String(),
  timestamp: Type.String(),
  cluster: Type.String(),
  status: Type.String(),
  'node.total': Type.String(),
  'node.data': Type.String(),
  shards: Type.String(),
  pri: Type.String(),
  relo: Type.String(),
  init: Type.String(),
  unassign: Type.String(),
  pending_tasks: Type.String(),
  max_task_wait_time: Type.String(),
  active_shards_percent: Type.String()
})

export const CatHealth = Type.Union([Type.String(), Type.Array(CatHealthRow)], {
  title: 'Cluster health: a text line, or JSON rows',
  description: 'Green: one line of text, or with ?format=json one row',
  examples: ['1795464507 20:08:27 vigil green 1 1 1 1 0 0 0 0 - 100.0%\n']
})

export const RefreshReply = Type.Object(
  { _shards: Type.Object({ total: Type.Integer(), successful: Type.Integer(), failed: Type.Integer() }) },
  { title: 'Refresh reply', description: 'Refreshed: events are committed before every bulk reply', examples: [{ _shards: { total: 1, successful: 1, failed: 0 } }] }
)
