import type { FastifyRequest } from 'fastify'
import type { Actor } from './audit.js'

/** Who is making a request, for the audit trail. */
export function actorOf(request: FastifyRequest): Actor {
  const p = request.principal
  if (!p) return { ip: request.ip }
  return p.kind === 'user'
    ? { id: p.id, label: p.username, ip: request.ip }
    : { id: null, label: `ingest-key:${p.name}`, ip: request.ip }
}
