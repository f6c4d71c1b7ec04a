// Elasticsearch shapes, as the official clients, Logstash, Beats and rsyslog parse them.
import { Type } from '@sinclair/typebox'
import { ErrorCodeSchema } from '../../src/schemas.js'

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
    examples: [
      {
        error: {
          root_cause: [{ type: 'security_exception', reason: 'Authentication credentials were not provided.' }],
          type: 'security_exception',
          reason: 'Authentication credentials were not provided.'
        },
        status: 401,
        code: 'not_authenticated',
        detail: 'Authentication credentials were not provided.'
      }
    ]
  }
)
export const esErrors = (...codes: number[]) => Object.fromEntries(codes.map((c) => [c, EsError]))

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
    examples: [
      {
        took: 12,
        errors: false,
        items: [{ create: { _index: 'security-events', _id: 'OK-1', _version: 1, result: 'created', status: 201 } }]
      }
    ]
  }
)

export const BulkBody = Type.Unsafe<Buffer | undefined>({
  description: 'NDJSON action and document pairs (index or create actions); any content type; Content-Encoding gzip or deflate.',
  examples: ['{"create":{"_index":"security-events","_id":"OK-1"}}\n{"@timestamp":"2026-11-23T20:07:55.496Z","message":"auth failure","host":{"name":"fw01"}}\n']
})

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
  description: 'One line of text, or with ?format=json one row',
  examples: ['1795464507 20:08:27 vigil green 1 1 1 1 0 0 0 0 - 100.0%\n']
})

export const RefreshReply = Type.Object(
  { _shards: Type.Object({ total: Type.Integer(), successful: Type.Integer(), failed: Type.Integer() }) },
  { examples: [{ _shards: { total: 1, successful: 1, failed: 0 } }] }
)
