// The three body formats Vigil ingests, as adapters from the splitter's segments to records:
// the native bulk format (JSON array, NDJSON, {"events"|"logs": [...]}), Splunk HEC envelopes and
// Elasticsearch _bulk action/document pairs. Each adapter runs twice over a body: `check` counts
// records and validates the body's structure without parsing documents (so whole-body errors are
// found before anything is stored), then `items` yields the records to map and insert.
import { BodyError } from './decode.js'
import type { RecordSource } from './map.js'
import type { Segment } from './split.js'

export type Format = 'bulk' | 'hec' | 'es'

export type EsAction = 'index' | 'create' | 'update' | 'delete'

/** One record of the request, in request order. */
export interface Item {
  index: number
  /** Why this record cannot be an event, found before mapping. */
  error?: string
  /** The Splunk HEC code for that error. */
  code?: number
  record?: RecordSource
  /** Elasticsearch: the action and the index it names, to shape the reply item. */
  es?: { action: EsAction; index: string; id?: string }
}

export interface Adapter {
  /** Records seen so far. */
  readonly count: number
  /** Records whose JSON parsed (a body where none did is not JSON at all). */
  readonly parsed: number
  check(seg: Segment): void
  items(seg: Segment): Item[]
  /** Records left open at the end of the body. */
  finish(): Item[]
}

type Rec = Record<string, unknown>
export const isObject = (v: unknown): v is Rec => v !== null && typeof v === 'object' && !Array.isArray(v)

/** Parses a segment's text; the splitter may have parsed it already. */
export function parseSegment(seg: Segment): { value: unknown } | { error: string } {
  if (seg.error !== undefined) return { error: seg.error }
  if (seg.value !== undefined) return { value: seg.value }
  try {
    return { value: JSON.parse(seg.text!) }
  } catch (err) {
    return { error: `Not valid JSON (${(err as Error).message}).` }
  }
}

/** The native format: each record is an event-like object. */
export class BulkAdapter implements Adapter {
  count = 0
  parsed = 0

  check() {
    this.count++
  }

  items(seg: Segment): Item[] {
    const index = this.count++
    const p = parseSegment(seg)
    if ('error' in p) return [{ index, error: p.error }]
    this.parsed++
    if (!isObject(p.value)) return [{ index, error: 'A record must be a JSON object.' }]
    return [{ index, record: { doc: p.value, raw: seg.text, nativeAttributes: true } }]
  }

  finish(): Item[] {
    return []
  }
}

/**
 * Splunk HEC: envelopes {time, host, source, sourcetype, index, event, fields}. The event's own
 * fields win; then `fields`; then, when the event is splunk-logging's {message: {...}, severity},
 * the fields of that message object; then the envelope's host (source), time, and source
 * (the app, a last resort for the event's source). The whole envelope is kept as attributes.
 */
export class HecAdapter implements Adapter {
  count = 0
  parsed = 0

  check() {
    this.count++
  }

  items(seg: Segment): Item[] {
    const index = this.count++
    const p = parseSegment(seg)
    if ('error' in p) return [{ index, error: p.error, code: 6 }]
    this.parsed++
    const env = p.value
    if (!isObject(env)) return [{ index, error: 'Invalid data format: an event envelope must be a JSON object.', code: 6 }]
    if (!('event' in env)) return [{ index, error: 'Event field is required.', code: 12 }]
    const event = env.event
    if (event === null || event === '' || (isObject(event) && Object.keys(event).length === 0)) {
      return [{ index, error: 'Event field cannot be blank.', code: 13 }]
    }
    const doc: Rec = {}
    if (env.source !== undefined) doc.hostname = env.source
    if (env.host !== undefined) doc.host = env.host
    if (env.time !== undefined) doc.time = env.time
    if (isObject(event) && isObject(event.message)) Object.assign(doc, event.message)
    if (isObject(env.fields)) Object.assign(doc, env.fields)
    if (isObject(event)) Object.assign(doc, event)
    else doc.message = event
    return [{ index, record: { doc, raw: seg.text, original: env } }]
  }

  finish(): Item[] {
    return []
  }
}

const ES_ACTIONS = new Set<EsAction>(['index', 'create', 'update', 'delete'])

/**
 * Elasticsearch _bulk: an action line ({"index"|"create": {"_index", "_id"}}) followed by the
 * document (none after "delete"). A malformed action line makes the pairing unknowable, so, as in
 * Elasticsearch, it fails the whole request; a bad document fails only its item.
 */
export class EsAdapter implements Adapter {
  count = 0
  parsed = 0
  private pending: { index: number; action: EsAction; meta: Rec } | undefined

  /** `onAction` sees each action as the check pass meets it (the reply items of a refused body). */
  constructor(
    private readonly defaultIndex: string,
    private readonly onAction?: (es: NonNullable<Item['es']>) => void
  ) {}

  private action(seg: Segment): { action: EsAction; meta: Rec } {
    const p = parseSegment(seg)
    const value: Rec = 'value' in p && isObject(p.value) ? p.value : {}
    const keys = Object.keys(value)
    const action = keys[0] as EsAction
    if (keys.length !== 1 || !ES_ACTIONS.has(action) || !(isObject(value[action]) || value[action] === null)) {
      throw new BodyError(
        400,
        `Malformed action/metadata line [${seg.line}]: expected {"index"|"create": {...}}${'error' in p ? ` (${p.error})` : ''}.`,
        'structure'
      )
    }
    this.parsed++
    return { action, meta: (value[action] as Rec | null) ?? {} }
  }

  check(seg: Segment) {
    if (this.pending) {
      this.pending = undefined
      return
    }
    const { action, meta } = this.action(seg)
    this.count++
    this.onAction?.(this.meta(this.count - 1, action, meta))
    if (action !== 'delete') this.pending = { index: this.count - 1, action, meta }
  }

  private meta(index: number, action: EsAction, meta: Rec): Item['es'] & object {
    const id = meta._id
    return {
      action,
      index: typeof meta._index === 'string' && meta._index !== '' ? meta._index : this.defaultIndex,
      id: typeof id === 'string' || typeof id === 'number' ? String(id) : undefined
    }
  }

  items(seg: Segment): Item[] {
    const pending = this.pending
    if (!pending) {
      const { action, meta } = this.action(seg)
      const index = this.count++
      if (action !== 'delete') {
        this.pending = { index, action, meta }
        return []
      }
      return [{ index, es: this.meta(index, action, meta), error: 'Vigil keeps events: the delete action is not supported.' }]
    }
    this.pending = undefined
    const es = this.meta(pending.index, pending.action, pending.meta)
    const item: Item = { index: pending.index, es }
    if (pending.action === 'update') return [{ ...item, error: 'Vigil keeps events: the update action is not supported; use index or create.' }]
    if (pending.meta._id !== undefined && pending.meta._id !== null && es.id === undefined) {
      return [{ ...item, error: 'Invalid _id: must be a string.' }]
    }
    const p = parseSegment(seg)
    if ('error' in p) return [{ ...item, error: p.error }]
    if (!isObject(p.value)) return [{ ...item, error: 'The document must be a JSON object.' }]
    return [{ ...item, record: { doc: p.value, raw: seg.text, externalId: es.id } }]
  }

  finish(): Item[] {
    const pending = this.pending
    this.pending = undefined
    if (!pending) return []
    return [{ index: pending.index, es: this.meta(pending.index, pending.action, pending.meta), error: 'The action has no document line after it.' }]
  }
}

export const DEFAULT_ES_INDEX = 'events'

export function makeAdapter(format: Format, esIndex = DEFAULT_ES_INDEX): Adapter {
  if (format === 'hec') return new HecAdapter()
  if (format === 'es') return new EsAdapter(esIndex)
  return new BulkAdapter()
}
