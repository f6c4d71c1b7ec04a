// /api/webhooks: subscriptions to alert changes, delivered signed and retried (admins only). The
// writes, their checks (the URL's addresses among them) and audit records, the delivery log and
// redelivery live in src/services/webhooks.ts; the engine that delivers runs in plugins/webhooks.ts.
import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { errors, IdParams, Page, type ErrorDoc } from '../../src/schemas.js'
import { actorOf } from '../../src/services/actor.js'
import {
  createWebhook,
  DEFAULT_OVERLAP_S,
  deleteWebhook,
  getWebhook,
  listDeliveries,
  listWebhooks,
  MAX_WEBHOOKS,
  queueTest,
  redeliver,
  rotateSecret,
  TEST_EVENT_TYPE,
  updateWebhook,
  webhookOut
} from '../../src/services/webhooks.js'
import { DeliveryOut, DeliveryParams, DeliveryQuery, RotateBody, WebhookCreate, WebhookCreated, WebhookOut, WebhookPatch, WebhookQuery, WebhookRotated } from './schema.js'

const tags = ['webhooks']
const permission = 'webhooks:manage' as const

const REFUSED: ErrorDoc = {
  description:
    'Invalid request: a field is not valid, or the URL is refused (webhook_url_refused: not http or https, credentials in it, ' +
    'or a host that does not resolve or resolves to a loopback, private, link-local or other internal address)',
  code: 'webhook_url_refused',
  detail: 'The host "127.0.0.1" is not allowed: 127.0.0.1 is a loopback, private, link-local or reserved address (WEBHOOK_ALLOW_PRIVATE allows it).',
  errors: { url: ['The host "127.0.0.1" is not allowed: 127.0.0.1 is a loopback, private, link-local or reserved address (WEBHOOK_ALLOW_PRIVATE allows it).'] }
}

const FULL: ErrorDoc = {
  description: `There are ${MAX_WEBHOOKS} webhooks already, the most there may be`,
  code: 'conflict',
  detail: `There are ${MAX_WEBHOOKS} webhooks, the most there may be; delete one first.`
}

const BUSY: ErrorDoc = {
  description: 'An attempt of this delivery is under way; redeliver it once it is over',
  code: 'conflict',
  detail: 'This delivery is being attempted now; redeliver it once the attempt is over.'
}

const webhookRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const opts = { allowPrivate: app.config.WEBHOOK_ALLOW_PRIVATE }

  app.get('/', {
    config: { permission },
    schema: {
      tags,
      summary: 'List webhooks',
      description: 'Newest first (created_at, then id), without their secrets. `?active=false` lists the ones turned off, with why.',
      querystring: WebhookQuery,
      response: { 200: Page(WebhookOut), ...errors(400, 401, 403, 404) }
    },
    handler: (request) => listWebhooks(app.lists, request.query, request)
  })

  app.post('/', {
    config: { permission },
    schema: {
      tags,
      summary: 'Create a webhook',
      description:
        'From now on, every alert change of its `event_types` (all when empty) to an alert matching its `filter` is POSTed to ' +
        'its URL, signed as Standard Webhooks specify (headers webhook-id, webhook-timestamp, webhook-signature; README, Webhooks), ' +
        'retried on failure. The answer holds the signing `secret`, shown this once. ' +
        `At most ${MAX_WEBHOOKS} webhooks. Recorded in the audit trail (without the secret).`,
      body: WebhookCreate,
      response: { 201: WebhookCreated, ...errors(401, 403, 413, 415, { 400: REFUSED, 409: FULL }) }
    },
    handler: async (request, reply) => {
      const { webhook, secret } = await createWebhook(app.db, actorOf(request), request.body, opts)
      return reply.code(201).send({ ...webhookOut(webhook), secret })
    }
  })

  app.get('/:id', {
    config: { permission },
    schema: {
      tags,
      summary: 'Get a webhook',
      description: 'One webhook, without its secret: whether it is delivering, and if Vigil turned it off, why.',
      params: IdParams,
      response: { 200: WebhookOut, ...errors(400, 401, 403, 404) }
    },
    handler: async (request) => webhookOut(await getWebhook(app.db, request.params.id))
  })

  app.patch('/:id', {
    config: { permission },
    schema: {
      tags,
      summary: 'Update a webhook',
      description:
        'Its name, URL (checked as on create), event types, filter, or `active`. Turned off, nothing is delivered and changes made ' +
        'meanwhile are not queued; turned on again, it delivers the changes made from then on (deliveries still pending go first). ' +
        'Changed fields are recorded in the audit trail.',
      params: IdParams,
      body: WebhookPatch,
      response: { 200: WebhookOut, ...errors(401, 403, 404, 413, 415, { 400: REFUSED }) }
    },
    handler: async (request) => webhookOut(await updateWebhook(app.db, actorOf(request), request.params.id, request.body, opts))
  })

  app.delete('/:id', {
    config: { permission },
    schema: {
      tags,
      summary: 'Delete a webhook',
      description: 'With its deliveries and their log; an attempt under way ends unrecorded. Recorded in the audit trail.',
      params: IdParams,
      response: { 204: Type.Null({ description: 'Deleted' }), ...errors(400, 401, 403, { 404: 'No such webhook' }) }
    },
    handler: async (request, reply) => {
      await deleteWebhook(app.db, actorOf(request), request.params.id)
      return reply.code(204).send(null)
    }
  })

  app.post('/:id/rotate', {
    config: { permission },
    // The body is optional: none is the defaults (a JSON null is still refused).
    preValidation: (request, _reply, done) => {
      if (request.body === undefined) request.body = {}
      done()
    },
    schema: {
      tags,
      summary: "Rotate a webhook's secret",
      description:
        'A new signing secret, shown this once. During `overlap_seconds` (default ' +
        `${DEFAULT_OVERLAP_S}, a day) every delivery carries two signatures, by the new secret and by the one it replaces, so the ` +
        'receiver can switch without a gap; after it, only the new one signs. Recorded in the audit trail (without secrets).',
      params: IdParams,
      body: RotateBody,
      response: { 200: WebhookRotated, ...errors(400, 401, 403, 404, 413, 415) }
    },
    handler: async (request) => {
      const { webhook, secret } = await rotateSecret(app.db, actorOf(request), request.params.id, request.body.overlap_seconds ?? DEFAULT_OVERLAP_S)
      return { ...webhookOut(webhook), secret }
    }
  })

  app.get('/:id/deliveries', {
    config: { permission },
    schema: {
      tags,
      summary: "List a webhook's deliveries",
      description:
        'The delivery log, newest first (created_at, then id): one delivery per alert change sent, with its message id (the same on ' +
        'every attempt), state, next attempt, and every attempt: when, the status, the latency, the error and the start of the answer.',
      params: IdParams,
      querystring: DeliveryQuery,
      response: { 200: Page(DeliveryOut), ...errors(400, 401, 403, { 404: 'No such webhook, or no such page' }) }
    },
    handler: (request) => listDeliveries(app.lists, request.params.id, request.query, request)
  })

  app.post('/:id/deliveries/:delivery_id/redeliver', {
    config: { permission },
    schema: {
      tags,
      summary: 'Redeliver',
      description:
        'Attempts the delivery again, soon, with the same message id and body (newly signed), its retry schedule from the start: a ' +
        'pending one at once, a failed or delivered one too (it is pending again). It goes before newer deliveries of its webhook. ' +
        'Recorded in the audit trail.',
      params: DeliveryParams,
      response: { 202: DeliveryOut, ...errors(400, 401, 403, { 404: 'No such webhook or delivery', 409: BUSY }) }
    },
    handler: async (request, reply) => {
      const delivery = await redeliver(app.db, actorOf(request), request.params.id, request.params.delivery_id)
      app.wakeWebhooks()
      return reply.code(202).send(delivery)
    }
  })

  app.post('/:id/test', {
    config: { permission },
    schema: {
      tags,
      summary: 'Send a test message',
      description: `Queues a message of type \`${TEST_EVENT_TYPE}\`, signed and retried like any delivery, behind what the webhook has pending; its delivery is in the log.`,
      params: IdParams,
      response: { 202: DeliveryOut, ...errors(400, 401, 403, { 404: 'No such webhook' }) }
    },
    handler: async (request, reply) => {
      const delivery = await queueTest(app.db, request.params.id)
      app.wakeWebhooks()
      return reply.code(202).send(delivery)
    }
  })
}

export default webhookRoutes
