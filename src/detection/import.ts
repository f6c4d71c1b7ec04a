// Import of Sigma YAML holding many documents: one model per rule, errors per rule. A
// correlation and the rules (and correlations) it reads go into one model together, since a
// correlation names its rules and runs only with them. Each model's definition is its documents'
// own text, as written.
import { parseAllDocuments } from 'yaml'
import { compileModel, DefinitionError } from './model.js'
import { MAX_DOCUMENTS } from './sigma/document.js'
import { isMap, type SigmaOptions } from './types.js'

export interface ImportedModel {
  /** The place of the model's first document in the text. */
  index: number
  name: string
  description: string | null
  definition: string
  /** The rule's Sigma metadata, kept as the model's metadata_json. */
  metadata: Record<string, unknown>
}

export interface ImportError {
  index: number
  title: string | null
  detail: string
}

const text = (v: unknown) => (typeof v === 'string' || typeof v === 'number' ? String(v) : null)

const METADATA = ['id', 'status', 'author', 'date', 'modified', 'references', 'tags', 'falsepositives', 'level', 'license', 'related']

export function splitImport(source: string, options: SigmaOptions): { models: ImportedModel[]; errors: ImportError[] } {
  const docs = parseAllDocuments(source, { uniqueKeys: true })
  const list = Array.isArray(docs) ? docs : [docs]
  if (list.length > MAX_DOCUMENTS) throw new DefinitionError('', `more than ${MAX_DOCUMENTS} documents`)
  const errors: ImportError[] = []
  const parsed: { index: number; value: Record<string, unknown>; text: string }[] = []
  list.forEach((d, index) => {
    const raw = source.slice(d.range[0], d.range[2]).replace(/^---[^\n]*\n/, '')
    if (d.errors.length) return errors.push({ index, title: null, detail: `not valid YAML: ${d.errors[0].message.split('\n')[0]}` })
    const value = d.toJS({ maxAliasCount: 100 }) as unknown
    if (value === null || value === undefined) return
    if (!isMap(value)) return errors.push({ index, title: null, detail: 'a Sigma document is a map' })
    parsed.push({ index, value, text: raw.trimEnd() })
  })

  // Documents that reference each other (a correlation and its rules) form one model.
  const parent = parsed.map((_, i) => i)
  const find = (i: number): number => (parent[i] === i ? i : (parent[i] = find(parent[i])))
  const byRef = new Map<string, number>()
  parsed.forEach((p, i) => {
    for (const k of [text(p.value.id), text(p.value.name)]) if (k) byRef.set(k, i)
  })
  parsed.forEach((p, i) => {
    const c = p.value.correlation
    if (!isMap(c)) return
    const rules = typeof c.rules === 'string' ? [c.rules] : Array.isArray(c.rules) ? c.rules : []
    for (const r of rules) {
      const j = typeof r === 'string' ? byRef.get(r) : undefined
      if (j !== undefined) parent[find(j)] = find(i)
    }
  })
  const groups = new Map<number, number[]>()
  parsed.forEach((_, i) => {
    const root = find(i)
    groups.set(root, [...(groups.get(root) ?? []), i])
  })

  const models: ImportedModel[] = []
  for (const members of [...groups.values()].sort((a, b) => parsed[a[0]].index - parsed[b[0]].index)) {
    const docsOf = members.map((i) => parsed[i])
    // The model is named after its correlation when it has one (the rule that alerts), else its rule.
    const head = docsOf.find((d) => isMap(d.value.correlation)) ?? docsOf[0]
    const title = text(head.value.title)
    const definition = docsOf.map((d) => d.text).join('\n---\n') + '\n'
    try {
      compileModel({ id: 0, name: '', version: '' }, 'sigma', definition, options)
    } catch (err) {
      if (!(err instanceof DefinitionError)) throw err
      errors.push({ index: head.index, title, detail: `${err.path}: ${err.message}` })
      continue
    }
    const metadata: Record<string, unknown> = {}
    for (const k of METADATA) if (head.value[k] !== undefined) metadata[k] = head.value[k]
    models.push({
      index: head.index,
      name: (title ?? `Imported rule ${head.index}`).slice(0, 200),
      description: text(head.value.description),
      definition,
      metadata
    })
  }
  errors.sort((a, b) => a.index - b.index)
  return { models, errors }
}
