// Saved views (/api/views): a user's named filters of the alert, event or incident list,
// optionally shared with everyone. A view holds only filters its list takes, each checked by the
// list's own query schema (the routes pass them in) with the validator Fastify checks a query
// string with (src/compilers.ts), so the URL a view gives never meets a 400 of its list. Nothing
// here is audited: a view holds no data and changes none.
import type { TObject } from '@sinclair/typebox'
import type { ErrorObject, ValidateFunction } from 'ajv'
import { and, count, eq, getTableColumns, ne, or, sql, type SQLWrapper } from 'drizzle-orm'
import { can, type Permission } from '../auth/permissions.js'
import type { RequestIdentity } from '../auth/principal.js'
import { validatorCompiler } from '../compilers.js'
import type { Db, Tx } from '../db/index.js'
import { savedViews, users, type Role, type SavedView, type ViewList } from '../db/schema.js'
import { conflict, forbidden, HttpError, isUniqueViolation, notFound } from '../errors.js'
import { filter, listPage, type PageEnvelope, type PageLocation, type PageParams, type PageSource } from '../pagination.js'
import { PageQuery } from '../schemas.js'
import { LINE_UNSAFE } from '../text.js'

/** Most views one user may keep. */
export const MAX_VIEWS_PER_USER = 100

/** Each list a view can filter: where it is served, and what reading it takes. */
export const VIEW_LIST_ROUTES: Record<ViewList, { path: string; permission: Permission }> = {
  alerts: { path: '/api/alerts/', permission: 'alerts:read' },
  events: { path: '/api/events/', permission: 'events:read' },
  incidents: { path: '/api/incidents/', permission: 'incidents:read' }
}

/** Each list's filter query parameters: its querystring schema without the paging ones. */
export type ListFilterSchemas = Record<ViewList, TObject>

/** A view's filters, as a query string carries them. */
export type ViewFilters = Record<string, string | number | boolean>

/** Who asks: a signed-in user. */
export interface Viewer {
  id: number
  username: string
  role: Role
}

export interface ViewContext {
  viewer: Viewer
  lists: ListFilterSchemas
}

export interface ViewInput {
  name: string
  list?: ViewList
  filters: Record<string, unknown>
  shared?: boolean
}

export interface ViewFilter extends PageParams {
  list?: ViewList
  shared?: boolean
  /** true: only the caller's own views; false: only others' (shared) ones. */
  mine?: boolean
}

export interface SavedViewRow extends SavedView {
  ownerUsername: string
}

/** The user a request acts as. 'self' is a user permission: plugins/rbac.ts refuses an ingest key first. */
export function viewerOf(request: RequestIdentity): Viewer {
  const p = request.principal
  if (p?.kind !== 'user') throw forbidden('Only users have saved views.')
  return { id: p.id, username: p.username, role: p.role }
}

const isScalar = (v: unknown): v is string | number | boolean => typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean'

/** The filters in a stable order: by name. */
function sorted(filters: ViewFilters): ViewFilters {
  const out: ViewFilters = {}
  for (const key of Object.keys(filters).sort()) out[key] = filters[key]
  return out
}

/** The list URL that applies a view: its filters as query parameters, by name, URL-encoded. */
export function viewUrl(list: ViewList, filters: ViewFilters): string {
  const query = Object.keys(filters)
    .sort()
    .map((key) => `${encodeURIComponent(key)}=${encodeURIComponent(String(filters[key]))}`)
    .join('&')
  const path = VIEW_LIST_ROUTES[list].path
  return query ? `${path}?${query}` : path
}

/** What a saved view looks like to API clients (routes/views/schema.ts ViewOut). */
export const viewOut = (v: SavedViewRow) => ({
  id: v.id,
  name: v.name,
  list: v.list,
  filters: sorted(v.filters),
  shared: v.shared,
  owner: v.ownerId,
  owner_username: v.ownerUsername,
  url: viewUrl(v.list, v.filters),
  created_at: v.createdAt.toISOString(),
  updated_at: v.updatedAt.toISOString()
})

export type ViewOutView = ReturnType<typeof viewOut>

/** A view's columns and its owner's username (a user is never without one: the views cascade). */
const selection = {
  ...getTableColumns(savedViews),
  ownerUsername: sql<string>`(select ${users.username} from ${users} where ${users.id} = ${savedViews.ownerId})`
}

/** The views a user sees: their own, and everyone's shared ones. */
const visibleTo = (viewer: SQLWrapper | number) => or(eq(savedViews.ownerId, viewer), sql`${savedViews.shared}`)!

/** A 400 for one body field, worded as schema validation words it. */
const invalid = (field: string, message: string) =>
  new HttpError('validation_failed', `Invalid body field '${field}': ${message}`, { errors: { [field]: [message] } })

// PostgreSQL refuses NUL in text and jsonb; the lists refuse control characters in their text filters.
const CONTROL = /\p{Cc}/u

function cleanName(name: string): string {
  const trimmed = name.trim()
  if (!trimmed) throw invalid('name', 'This field may not be blank.')
  if (LINE_UNSAFE.test(trimmed)) throw invalid('name', 'Must not contain control characters.')
  return trimmed
}

/**
 * A 400 worded exactly as a refused request's schema validation (plugins/errors.ts reads
 * `validation` as Fastify's own validation errors carry it), each field named `filters.<name>`.
 */
function invalidFilters(problems: ErrorObject[]): Error {
  return Object.assign(new Error('Invalid filters'), { statusCode: 400, validation: problems, validationContext: 'body' })
}

/** The paging query parameters every list takes (src/schemas.ts PageQuery): never a filter. */
const PAGING = new Set(Object.keys(PageQuery))

const problem = (key: string, keyword: string, params: Record<string, unknown>, message?: string): ErrorObject => ({
  instancePath: `/filters/${key}`,
  schemaPath: '#/properties/filters',
  keyword,
  params,
  ...(message !== undefined && { message })
})

/**
 * The filters a view keeps, checked as its list checks its query parameters: only names the list
 * takes (never its paging ones), each value a string, number or boolean converted as a query string
 * is (`"5"` to a number, `"true"` to a boolean) and valid for that parameter. Every problem is
 * reported at once, under `filters.<name>`.
 */
export function checkFilters(list: ViewList, input: Record<string, unknown>, schema: TObject): ViewFilters {
  const known = Object.keys(schema.properties).sort()
  const problems: ErrorObject[] = []
  const given: Record<string, string | number | boolean> = {}
  for (const [key, value] of Object.entries(input)) {
    if (PAGING.has(key)) problems.push(problem(key, 'additionalProperties', { additionalProperty: key }, 'a paging parameter, not a filter: a view never holds page, page_size or cursor'))
    else if (!known.includes(key)) problems.push(problem(key, 'additionalProperties', { additionalProperty: key }, `not a filter of the ${list} list (its filters: ${known.join(', ')})`))
    else if (!isScalar(value)) problems.push(problem(key, 'type', { type: 'string, number or boolean' }))
    else if (typeof value === 'string' && CONTROL.test(value)) problems.push(problem(key, 'pattern', {}, 'must not contain control characters'))
    else given[key] = value
  }
  // The validator Fastify checks the list's query string with: the same conversions, formats and bounds.
  const validate = validatorCompiler({ schema, httpPart: 'querystring', method: 'GET', url: VIEW_LIST_ROUTES[list].path }) as unknown as ValidateFunction
  const converted: Record<string, unknown> = { ...given }
  if (!validate(converted)) {
    for (const e of validate.errors ?? []) problems.push({ ...e, instancePath: `/filters${e.instancePath}` })
  }
  if (problems.length > 0) throw invalidFilters(problems)
  const out: ViewFilters = {}
  // Only the names given (the validator may add defaults); each as converted, kept as given when
  // the list reads it as an array (one value of a repeatable parameter).
  for (const key of Object.keys(given).sort()) {
    const value = converted[key]
    out[key] = isScalar(value) ? value : given[key]
  }
  return out
}

/** Turns a violation of the per-user case-insensitive unique name into a 409 naming the field. */
function nameConflict(err: unknown): unknown {
  if (isUniqueViolation(err, 'saved_views_owner_name_idx')) return conflict('You have a view with that name already.', 'name')
  return err
}

/** What a view list reads: the caller's views and everyone's shared ones, newest first; filters combine with AND. */
export function viewList(viewer: Viewer, f: ViewFilter): PageSource<SavedViewRow> {
  const filters = [
    filter('viewer', viewer.id, (v) => visibleTo(v)),
    filter('list', f.list, (v) => eq(savedViews.list, v)),
    filter('shared', f.shared, (v) => eq(savedViews.shared, v)),
    // Two names for two conditions: a page statement is prepared once per set of filter names.
    filter('mine', f.mine === true ? viewer.id : undefined, (v) => eq(savedViews.ownerId, v)),
    filter('not_mine', f.mine === false ? viewer.id : undefined, (v) => ne(savedViews.ownerId, v))
  ]
  return { table: savedViews, filters, newest: savedViews.createdAt, select: selection }
}

/** One page of the views the caller sees. */
export async function listViews(db: Db, viewer: Viewer, f: ViewFilter, at: PageLocation): Promise<PageEnvelope<ViewOutView>> {
  // The caller is part of what the list holds, so a count estimate is kept per caller too.
  const params = { ...f, viewer: viewer.id }
  return listPage(db, at, params, viewList(viewer, f), (rows) => rows.map(viewOut))
}

/** One view the caller sees (their own, or a shared one); 404 otherwise, so a private view is not revealed. */
export async function getView(db: Db | Tx, viewer: Viewer, id: number): Promise<SavedViewRow> {
  const [row] = await db
    .select(selection)
    .from(savedViews)
    .where(and(eq(savedViews.id, id), visibleTo(viewer.id)))
  if (!row) throw notFound()
  return row
}

export async function createView(db: Db, ctx: ViewContext, input: ViewInput): Promise<SavedViewRow> {
  const { viewer } = ctx
  const list = input.list ?? 'alerts'
  if (!can(viewer.role, VIEW_LIST_ROUTES[list].permission)) throw forbidden(`Your role may not read ${list}, so it may not save a view of them.`)
  const name = cleanName(input.name)
  const filters = checkFilters(list, input.filters, ctx.lists[list])
  return db.transaction(async (tx) => {
    // One creation at a time per user, so two at once cannot both pass the limit. NO KEY UPDATE:
    // the foreign key's check (KEY SHARE) of other writers does not wait for it.
    await tx.select({ id: users.id }).from(users).where(eq(users.id, viewer.id)).for('no key update')
    const [{ n }] = await tx.select({ n: count() }).from(savedViews).where(eq(savedViews.ownerId, viewer.id))
    if (n >= MAX_VIEWS_PER_USER) throw conflict(`You have ${MAX_VIEWS_PER_USER} saved views, the most one user may keep: delete one first.`)
    let row: SavedView
    try {
      ;[row] = await tx
        .insert(savedViews)
        .values({ ownerId: viewer.id, name, list, filters, shared: input.shared ?? false })
        .returning()
    } catch (err) {
      throw nameConflict(err)
    }
    return { ...row, ownerUsername: viewer.username }
  })
}

/** Deletes a view the caller sees: their own, or (admins) anyone's shared one; 403 for another's shared view. */
export async function deleteView(db: Db, viewer: Viewer, id: number): Promise<void> {
  await db.transaction(async (tx) => {
    const [row] = await tx
      .select({ ownerId: savedViews.ownerId })
      .from(savedViews)
      .where(and(eq(savedViews.id, id), visibleTo(viewer.id)))
      .for('update')
    if (!row) throw notFound()
    if (row.ownerId !== viewer.id && viewer.role !== 'admin') throw forbidden('Only its owner or an admin may delete this view.')
    await tx.delete(savedViews).where(eq(savedViews.id, id))
  })
}
