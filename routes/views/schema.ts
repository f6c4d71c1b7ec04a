// Saved view schemas: request shapes validated on the way in, and the response shape that is the
// allow-list of what leaves the server. A view's filters are the query parameters of its list,
// checked against that list's own querystring schema (imported below, so a filter added to a list
// is one a view may hold) by src/services/saved-views.ts.
import { Type, type TObject } from '@sinclair/typebox'
import { VIEW_LISTS } from '../../src/db/schema.js'
import { namedExamples, PageQuery, StringEnum, Timestamp } from '../../src/schemas.js'
import type { ListFilterSchemas } from '../../src/services/saved-views.js'
import { AlertQuery } from '../alerts/schema.js'
import { EventQuery } from '../events/schema.js'
import { IncidentQuery } from '../incidents/schema.js'

/** Longest view name (the column's length). */
export const MAX_VIEW_NAME = 100
/** Most filters one view holds: more than any list takes (each name is checked against its list). */
export const MAX_VIEW_FILTERS = 50

/** The paging parameters every list takes: a view never holds them. */
const PAGING = Object.keys(PageQuery) as (keyof typeof PageQuery)[]

/** Each list's filters: its querystring schema without the paging parameters. */
export const VIEW_FILTERS: ListFilterSchemas = {
  alerts: Type.Omit(AlertQuery, PAGING) as TObject,
  events: Type.Omit(EventQuery, PAGING) as TObject,
  incidents: Type.Omit(IncidentQuery, PAGING) as TObject
}

const filterNames = Object.entries(VIEW_FILTERS)
  .map(([list, schema]) => `${list}: ${Object.keys(schema.properties).sort().join(', ')}`)
  .join('; ')

export const ViewListSchema = StringEnum(VIEW_LISTS, { description: 'The list the view filters: alerts, events or incidents' })

const Name = Type.String({ minLength: 1, maxLength: MAX_VIEW_NAME, description: 'One line, trimmed; unique among your views regardless of case' })

// Values are checked by the service, against the list's own schema: Ajv checks only the shape here,
// so a body of many bad values costs one error per name, never one per value and alternative.
const Filters = Type.Object(
  {},
  {
    additionalProperties: true,
    maxProperties: MAX_VIEW_FILTERS,
    description:
      "The list's filter query parameters, as a query string carries them (strings, numbers, booleans), " +
      'checked as the list checks them; never `page`, `page_size` or `cursor`. ' +
      `The filters of each list: ${filterNames}.`
  }
)

export const ViewBody = Type.Object(
  {
    name: Name,
    list: Type.Optional({ ...ViewListSchema, description: 'alerts (default), events or incidents' }),
    filters: Filters,
    shared: Type.Optional(Type.Boolean({ description: 'Shown to every user (default false); only you and admins delete it' }))
  },
  {
    additionalProperties: false,
    ...namedExamples({
      triage: {
        summary: 'My open High alerts',
        value: { name: 'Open High alerts', list: 'alerts', filters: { severity: 'High', status: 'Open' } }
      },
      shared: {
        summary: 'A shared view of the incidents being investigated',
        value: { name: 'Under investigation', list: 'incidents', filters: { status: 'Investigating' }, shared: true }
      }
    })
  }
)

export const ViewQuery = Type.Object({
  ...PageQuery,
  list: Type.Optional(ViewListSchema),
  shared: Type.Optional(Type.Boolean({ description: 'true: only shared views; false: only your private ones' })),
  mine: Type.Optional(Type.Boolean({ description: "true: only your own views; false: only other users' shared ones" }))
})

const FilterValue = Type.Union([Type.String(), Type.Number(), Type.Boolean()], { title: 'Filter value' })

const viewExample = {
  id: 3,
  name: 'Open High alerts',
  list: 'alerts',
  filters: { severity: 'High', status: 'Open' },
  shared: true,
  owner: 2,
  owner_username: 'alice',
  url: '/api/alerts/?severity=High&status=Open',
  created_at: '2026-11-24T10:05:00.000Z',
  updated_at: '2026-11-24T10:05:00.000Z'
}

export const ViewOut = Type.Object(
  {
    id: Type.Integer(),
    name: Type.String(),
    list: ViewListSchema,
    filters: Type.Object({}, { additionalProperties: FilterValue, description: 'The filters, by name' }),
    shared: Type.Boolean(),
    owner: Type.Integer({ description: 'The id of the user who saved it' }),
    owner_username: Type.String(),
    url: Type.String({ description: 'The list URL that applies the view: its filters as query parameters, by name, URL-encoded' }),
    created_at: Timestamp,
    updated_at: Timestamp
  },
  { title: 'Saved view', examples: [viewExample] }
)
