// The ingestion hot path, without Fastify: decode, split, map, insert. See ingest.ts.
export { BodyError, decodeBody, parseContentEncoding } from './decode.js'
export type { Format } from './formats.js'
export { IngestGate } from './gate.js'
export {
  DEFAULT_BATCH_SIZE,
  DEFAULT_MAX_RECORD_BYTES,
  esRejectedItems,
  ingestBody,
  ingestRecords,
  type BodyOptions,
  type EsReplyItem,
  type IngestOptions,
  type IngestResult,
  type RecordError
} from './ingest.js'
export { insertRows, type RowOutcome } from './insert.js'
export { keyDefaults, mapRecord, MAX_DESCRIPTION, parseTime, type EventRow, type KeyDefaults } from './map.js'
export { RecordSplitter, type Segment } from './split.js'
