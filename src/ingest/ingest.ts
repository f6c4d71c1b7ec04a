// Ingestion without HTTP: a request body (or records already parsed) in, events and alerts out.
//
// A body is read twice at most. The first pass decodes and splits it, counts its records and
// checks its structure, so that every whole-body error (bad gzip, too large, too many records, a
// malformed Elasticsearch action line, nothing parseable) is found before anything is stored.
// Bodies that decode to at most RETAIN_BYTES keep their records from that pass; larger ones are
// decoded again, so memory stays bounded by the chunk size whatever the body's size. The second
// pass parses, maps and inserts in chunks of `batchSize` rows, one transaction each, all committed
// before the result is returned: nothing is acknowledged that was not committed.
import type { Database } from '../db/index.js'
import type { Detector } from '../detection/detector.js'
import type { AlertScreen } from '../services/grouping.js'
import { BodyError, decodeBody, parseContentEncoding } from './decode.js'
import { DEFAULT_ES_INDEX, EsAdapter, makeAdapter, type Adapter, type EsAction, type Format, type Item } from './formats.js'
import { insertRows, type RowOutcome } from './insert.js'
import { mapRecord, type EventRow, type KeyDefaults, type MapOptions } from './map.js'
import { RecordSplitter, type Segment } from './split.js'

export interface IngestOptions {
  /** The ingest key's defaults for fields a record lacks. */
  defaults?: KeyDefaults
  maxAttributesBytes: number
  /** Rows per insert statement (and transaction). */
  batchSize?: number
  /** The detection models every record is evaluated against before it is stored. */
  detector?: Detector
  /** Suppressions and grouping, applied to every record once it is mapped. */
  screen?: AlertScreen
}

export interface BodyOptions extends IngestOptions {
  format: Format
  /** The Content-Encoding header. */
  contentEncoding?: string
  maxDecompressedBytes: number
  maxRecords: number
  /** Largest single record; a larger one is rejected on its own. */
  maxRecordBytes?: number
  /** Elasticsearch: the index named in the URL (/{index}/_bulk). */
  index?: string
}

export interface RecordError {
  index: number
  detail: string
  /** Splunk HEC error code. */
  code?: number
}

/** One Elasticsearch bulk reply item: {"create"|"index"|...: {...}}. */
export type EsReplyItem = Partial<Record<EsAction, EsItemStatus>>
export interface EsItemStatus {
  _index: string
  _id: string | null
  status: number
  result?: string
  _version?: number
  error?: { type: string; reason: string }
}

export interface IngestResult {
  accepted: number
  duplicates: number
  rejected: number
  /** Rejected records, in request order. */
  errors: RecordError[]
  /** Elasticsearch only: one item per action, in request order. */
  items?: EsReplyItem[]
}

export const DEFAULT_BATCH_SIZE = 2000
export const DEFAULT_MAX_RECORD_BYTES = 1024 * 1024
/** Bodies that decode to at most this many bytes are split once and kept for the second pass. */
const RETAIN_BYTES = 4 * 1024 * 1024
/** A chunk is also flushed once its text reaches this size, whatever its row count. */
const MAX_BATCH_BYTES = 2 * 1024 * 1024

interface Pending {
  item: Item
  row: EventRow
}

/** Collects outcomes and inserts chunks; one per request. */
class Ingestion {
  readonly result: IngestResult
  private batch: Pending[] = []
  private batchBytes = 0
  // A record repeated within a chunk is a duplicate by insertRows' rule; one repeated from an
  // earlier chunk of the same request meets it in the database (committed by then).
  private inflight: Promise<void> = Promise.resolve()
  private readonly mapOptions: MapOptions

  constructor(
    private readonly database: Database,
    private readonly opts: IngestOptions,
    es: boolean
  ) {
    this.result = { accepted: 0, duplicates: 0, rejected: 0, errors: [], ...(es ? { items: [] } : {}) }
    this.mapOptions = { defaults: opts.defaults, maxAttributesBytes: opts.maxAttributesBytes, detect: opts.detector, screen: opts.screen }
  }

  /** Takes one record; resolves at once unless a chunk is due to be written. */
  add(item: Item): Promise<void> | undefined {
    if (item.error !== undefined || !item.record) return this.reject(item, item.error ?? 'Not a record.')
    const mapped = mapRecord(item.record, this.mapOptions)
    if (typeof mapped === 'string') return this.reject(item, mapped)
    // Keep only what the reply needs: the parsed document would otherwise stay alive (and be
    // promoted to the old generation) while the chunk waits for the database.
    this.batch.push({ item: { index: item.index, es: item.es }, row: mapped })
    this.batchBytes += mapped.description.length + (mapped.attributes?.length ?? 0)
    if (this.batch.length >= (this.opts.batchSize ?? DEFAULT_BATCH_SIZE) || this.batchBytes >= MAX_BATCH_BYTES) {
      return this.flush()
    }
    return undefined
  }

  /** Writes the open chunk. While it is written the caller prepares the next one. */
  async flush(): Promise<void> {
    const batch = this.batch
    this.batch = []
    this.batchBytes = 0
    await this.inflight
    if (batch.length === 0) return
    const rows = batch.map((p) => p.row)
    this.inflight = insertRows(this.database, rows).then(async (outcomes) => {
      outcomes.forEach((o, i) => this.settle(batch[i].item, batch[i].row, o))
      this.opts.screen?.settle(rows, outcomes)
      await this.opts.detector?.settle(rows, outcomes)
    })
    // Observed by the next flush or by finish(); this only keeps it from being "unhandled" meanwhile.
    this.inflight.catch(() => {})
  }

  async finish(): Promise<IngestResult> {
    await this.flush()
    await this.inflight
    this.result.errors.sort((a, b) => a.index - b.index)
    return this.result
  }

  private reject(item: Item, detail: string): undefined {
    this.result.rejected++
    this.result.errors.push({ index: item.index, detail, ...(item.code !== undefined ? { code: item.code } : {}) })
    if (item.es && this.result.items) {
      const unsupported = item.es.action === 'update' || item.es.action === 'delete'
      this.result.items[item.index] = {
        [item.es.action]: {
          _index: item.es.index,
          _id: item.es.id ?? null,
          status: 400,
          error: { type: unsupported ? 'illegal_argument_exception' : 'document_parsing_exception', reason: detail }
        }
      }
    }
    return undefined
  }

  private settle(item: Item, row: EventRow, outcome: RowOutcome): undefined {
    if (outcome !== null && 'refused' in outcome) return this.reject(item, outcome.refused)
    if (outcome === null) this.result.duplicates++
    else this.result.accepted++
    if (item.es && this.result.items) {
      const id = row.externalId ?? (outcome === null ? null : String(outcome.id))
      let status: EsItemStatus
      if (outcome !== null) status = { _index: item.es.index, _id: id, _version: 1, result: 'created', status: 201 }
      else if (item.es.action === 'create') {
        // What Elasticsearch answers for a create whose _id exists: clients count it as done, not retried.
        status = {
          _index: item.es.index,
          _id: id,
          status: 409,
          error: { type: 'version_conflict_engine_exception', reason: `[${id}]: version conflict, document already exists` }
        }
      } else status = { _index: item.es.index, _id: id, _version: 1, result: 'noop', status: 200 }
      this.result.items[item.index] = { [item.es.action]: status }
    }
    return undefined
  }
}

async function* decodedSegments(body: Buffer, opts: BodyOptions): AsyncGenerator<Segment[]> {
  const splitter = new RecordSplitter(opts.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES)
  for await (const chunk of decodeBody(body, parseContentEncoding(opts.contentEncoding), opts.maxDecompressedBytes)) {
    yield splitter.push(chunk)
  }
  yield splitter.end()
  if (splitter.empty) throw new BodyError(400, 'The request body is empty.', 'empty')
}

/** First pass: whole-body checks; returns the segments when the body is small enough to keep. */
async function check(body: Buffer, opts: BodyOptions, adapter = makeAdapter(opts.format, opts.index)): Promise<Segment[] | undefined> {
  let kept: Segment[] | undefined = []
  let keptBytes = 0
  for await (const segments of decodedSegments(body, opts)) {
    for (const seg of segments) {
      adapter.check(seg)
      if (adapter.count > opts.maxRecords) {
        throw new BodyError(413, `The request holds more than ${opts.maxRecords} records; send at most ${opts.maxRecords} per request.`, 'too_many_records')
      }
    }
    if (kept) {
      for (const seg of segments) {
        kept.push(seg)
        keptBytes += seg.text?.length ?? 0
      }
      if (keptBytes > RETAIN_BYTES) kept = undefined
    }
  }
  return kept
}

/**
 * Ingests one request body in the given format. Throws BodyError for whole-body problems
 * (nothing stored); database errors propagate (chunks already committed stay committed).
 */
export async function ingestBody(database: Database, body: Buffer, opts: BodyOptions): Promise<IngestResult> {
  const kept = await check(body, opts)
  const adapter: Adapter = makeAdapter(opts.format, opts.index)
  const ingestion = new Ingestion(database, opts, opts.format === 'es')
  for await (const segments of kept ? [kept] : decodedSegments(body, opts)) {
    for (const seg of segments) {
      for (const item of adapter.items(seg)) {
        const wait = ingestion.add(item)
        if (wait) await wait
      }
    }
  }
  for (const item of adapter.finish()) await ingestion.add(item)
  if (adapter.count > 0 && adapter.parsed === 0) {
    // Nothing was JSON, so nothing was stored: the body as a whole is unreadable.
    const first = ingestion.result.errors[0]?.detail ?? ''
    throw new BodyError(400, `The request body is not JSON, NDJSON or a JSON array of records. ${first}`.trim(), 'unparseable')
  }
  return ingestion.finish()
}

/**
 * Elasticsearch: the reply items for a body refused for load (Vigil busy, the database down),
 * nothing stored. Every action gets status 429 es_rejected_execution_exception, what
 * Elasticsearch answers when its write queue is full: the clients and shippers that read bulk
 * items (Logstash, Beats, Fluent Bit, Vector, the official clients' bulk helpers, rsyslog with
 * retryfailures) retry exactly those items. Documents are not parsed (this runs when Vigil is
 * short of time); whole-body errors are thrown as by ingestBody.
 */
export async function esRejectedItems(body: Buffer, opts: Omit<BodyOptions, 'format'>, reason: string): Promise<EsReplyItem[]> {
  const items: EsReplyItem[] = []
  const adapter = new EsAdapter(opts.index ?? DEFAULT_ES_INDEX, (es) => {
    items.push({ [es.action]: { _index: es.index, _id: es.id ?? null, status: 429, error: { type: 'es_rejected_execution_exception', reason } } })
  })
  await check(body, { ...opts, format: 'es' }, adapter)
  return items
}

/**
 * Ingests records that are already parsed objects (native format fields), e.g. from a benchmark
 * or an importer: same mapping, duplicate handling, chunked insert and alerts as the HTTP path.
 */
export async function ingestRecords(
  database: Database,
  records: Iterable<unknown> | AsyncIterable<unknown>,
  opts: IngestOptions
): Promise<IngestResult> {
  const ingestion = new Ingestion(database, opts, false)
  let index = 0
  for await (const value of records) {
    const item: Item =
      value !== null && typeof value === 'object' && !Array.isArray(value)
        ? { index, record: { doc: value as Record<string, unknown>, nativeAttributes: true } }
        : { index, error: 'A record must be a JSON object.' }
    index++
    const wait = ingestion.add(item)
    if (wait) await wait
  }
  return ingestion.finish()
}
