// /api/views: saved views, a user's named filters of the alert, event or incident list, optionally
// shared with every user. Every signed-in user keeps their own (ingest keys have none); a view's
// `url` is the list URL that applies it. The checks (only filters the list takes, only of a list
// the caller may read, at most 100 per user) live in src/services/saved-views.ts.
import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { errors, IdParams, Page, type ErrorDoc } from '../../src/schemas.js'
import { createView, deleteView, getView, listViews, MAX_VIEWS_PER_USER, viewerOf, viewOut } from '../../src/services/saved-views.js'
import { ViewBody, ViewOut, ViewQuery, VIEW_FILTERS } from './schema.js'

const tags = ['views']

const INVALID: ErrorDoc = {
  description:
    'Invalid request: a field is not valid, or a filter is not one the list takes (never `page`, `page_size` or `cursor`) ' +
    'or has a value the list would refuse (`errors` names it as `filters.<name>`)',
  code: 'validation_failed',
  detail: 'Invalid body field \'filters.severity\': "Extreme" is not a valid choice. Allowed values: Low, Medium, High, Critical.',
  errors: { 'filters.severity': ['"Extreme" is not a valid choice. Allowed values: Low, Medium, High, Critical.'] }
}

const NOT_READABLE: ErrorDoc = {
  description: "An ingest key, or a role that may not read the view's list (only admins read events)",
  code: 'permission_denied',
  detail: 'Your role may not read events, so it may not save a view of them.'
}

const CONFLICT: ErrorDoc = {
  description: `You have a view of this name already (names are unique per user regardless of case), or ${MAX_VIEWS_PER_USER} views already`,
  code: 'conflict',
  detail: 'You have a view with that name already.',
  errors: { name: ['You have a view with that name already.'] }
}

const HIDDEN = "No such view, or another user's view that is not shared"

const viewRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/', {
    config: { permission: 'self' },
    schema: {
      tags,
      summary: 'List saved views',
      description:
        "Your views and other users' shared ones, newest first (created_at, then id). Filters combine with AND, " +
        'e.g. `?list=alerts&mine=true` (mine: only yours, or with false only the shared views of others; shared: only shared, or only private).',
      querystring: ViewQuery,
      response: { 200: Page(ViewOut), ...errors(400, 401, 403, 404) }
    },
    handler: (request) => listViews(app.lists, viewerOf(request), request.query, request)
  })

  app.post('/', {
    config: { permission: 'self' },
    schema: {
      tags,
      summary: 'Save a view',
      description:
        "Names a set of filters of the alert (default), event or incident list. The filters are the list's own query parameters, " +
        'checked as the list checks them, so the `url` of the reply applies them. You must be allowed to read the list. ' +
        `Names are unique among your views regardless of case; at most ${MAX_VIEWS_PER_USER} views per user. ` +
        'A shared view is shown to every user.',
      body: ViewBody,
      response: { 201: ViewOut, ...errors(401, 413, 415, { 400: INVALID, 403: NOT_READABLE, 409: CONFLICT }) }
    },
    handler: async (request, reply) => {
      const view = await createView(app.db, { viewer: viewerOf(request), lists: VIEW_FILTERS }, request.body)
      return reply.code(201).send(viewOut(view))
    }
  })

  app.get('/:id', {
    config: { permission: 'self' },
    schema: {
      tags,
      summary: 'Get a saved view',
      description: "One of your views or a shared one, with the list `url` that applies it. Another user's private view is not found.",
      params: IdParams,
      response: { 200: ViewOut, ...errors(400, 401, 403, { 404: HIDDEN }) }
    },
    handler: async (request) => viewOut(await getView(app.db, viewerOf(request), request.params.id))
  })

  app.delete('/:id', {
    config: { permission: 'self' },
    schema: {
      tags,
      summary: 'Delete a saved view',
      description: "Your own view, or (admins) any shared one. Another user's shared view is refused (403); their private view is not found.",
      params: IdParams,
      response: {
        204: Type.Null({ description: 'Deleted' }),
        ...errors(400, 401, {
          403: {
            description: "An ingest key, or another user's shared view: only its owner or an admin deletes it",
            code: 'permission_denied',
            detail: 'Only its owner or an admin may delete this view.'
          },
          404: HIDDEN
        })
      }
    },
    handler: async (request, reply) => {
      await deleteView(app.db, viewerOf(request), request.params.id)
      return reply.code(204).send(null)
    }
  })
}

export default viewRoutes
