// Ingest keys: high-entropy random secrets for log shippers. Only a SHA-256 of the key is stored;
// with 256 bits of entropy a slow password hash would add cost on the hot path and no safety.
import { createHash, randomBytes } from 'node:crypto'

export const INGEST_KEY_PREFIX = 'vgl_'

export function generateIngestKey(): { key: string; hash: string; prefix: string } {
  const key = INGEST_KEY_PREFIX + randomBytes(32).toString('base64url')
  return { key, hash: hashIngestKey(key), prefix: key.slice(0, 12) }
}

export const hashIngestKey = (key: string) => createHash('sha256').update(key).digest('hex')

export type Credential = { kind: 'jwt'; token: string } | { kind: 'ingest-key'; key: string }

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*$/

function decodeBase64(value: string): string {
  return Buffer.from(value, 'base64').toString('utf8')
}

/**
 * Reads the credential a request carries, in every form Vigil's clients use: `Bearer <jwt>` for
 * people, and for shippers `Bearer <key>`, `Splunk <key>`, `ApiKey base64(id:key)`
 * (Elasticsearch clients), HTTP Basic with the key as password, or `X-API-Key`.
 */
export function readCredential(headers: Record<string, string | string[] | undefined>): Credential | undefined {
  const apiKeyHeader = headers['x-api-key']
  if (typeof apiKeyHeader === 'string' && apiKeyHeader.trim()) return { kind: 'ingest-key', key: apiKeyHeader.trim() }
  const auth = headers.authorization
  if (typeof auth !== 'string') return undefined
  const match = /^\s*(\S+)\s+(\S+)\s*$/.exec(auth)
  if (!match) return undefined
  const scheme = match[1].toLowerCase()
  const value = match[2]
  switch (scheme) {
    case 'bearer':
      return JWT_SHAPE.test(value) ? { kind: 'jwt', token: value } : { kind: 'ingest-key', key: value }
    case 'splunk':
      return { kind: 'ingest-key', key: value }
    case 'apikey': {
      // Elasticsearch clients send base64(id:key); given a plain string they send it as is, and
      // some operators base64 the key alone. A plain key is recognised first: decoding one as
      // base64 yields noise that may happen to contain a colon.
      if (value.startsWith(INGEST_KEY_PREFIX)) return { kind: 'ingest-key', key: value }
      const decoded = decodeBase64(value)
      const colon = decoded.indexOf(':')
      if (colon >= 0) return { kind: 'ingest-key', key: decoded.slice(colon + 1) }
      return { kind: 'ingest-key', key: decoded.startsWith(INGEST_KEY_PREFIX) ? decoded : value }
    }
    case 'basic': {
      // The key is the password; shippers that only have a user field may put it there instead.
      const decoded = decodeBase64(value)
      const colon = decoded.indexOf(':')
      if (colon < 0) return undefined
      const [user, password] = [decoded.slice(0, colon), decoded.slice(colon + 1)]
      if (password === '' && user.startsWith(INGEST_KEY_PREFIX)) return { kind: 'ingest-key', key: user }
      return { kind: 'ingest-key', key: password }
    }
    default:
      return undefined
  }
}
