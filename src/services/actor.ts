import type { RequestIdentity } from '../auth/principal.js'
import type { Actor } from './audit.js'

/** Who is making a request, for the audit trail. */
export function actorOf(request: RequestIdentity): Actor {
  const p = request.principal
  if (!p) return { ip: request.ip }
  return p.kind === 'user'
    ? { id: p.id, label: p.username, ip: request.ip }
    : { id: null, label: `ingest-key:${p.name}`, ip: request.ip }
}
