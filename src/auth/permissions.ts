// Roles map to permission sets in this one table; routes declare the permission they need and
// the rbac plugin enforces it.
import type { Role } from '../db/schema.js'

export const PERMISSIONS = [
  'self', // any signed-in user acting on their own account
  'events:read',
  'events:write',
  'events:ingest',
  'alerts:read',
  'alerts:create',
  'alerts:update',
  'incidents:read',
  'incidents:write',
  'incidents:delete',
  'models:read',
  'models:write',
  'suppressions:write',
  'users:manage',
  'ingest-keys:manage',
  'audit:read',
  'webhooks:manage'
] as const
export type Permission = (typeof PERMISSIONS)[number]

/** What each permission lets a caller do, in words (the docs' 403 of the routes that need it). */
export const PERMISSION_ACTIONS: Record<Permission, string> = {
  self: 'use a user account',
  'events:read': 'read events',
  'events:write': 'create, change or delete events',
  'events:ingest': 'ingest events',
  'alerts:read': 'read alerts',
  'alerts:create': 'raise alerts by hand',
  'alerts:update': "change an alert's status",
  'incidents:read': 'read incidents',
  'incidents:write': 'create or change incidents',
  'incidents:delete': 'delete incidents',
  'models:read': 'read detection models',
  'models:write': 'create, change, retrain or delete detection models',
  'suppressions:write': 'read, create, change or end suppressions',
  'users:manage': 'manage users',
  'ingest-keys:manage': 'manage ingest keys',
  'audit:read': 'read the audit trail',
  'webhooks:manage': 'manage webhooks and read their deliveries'
}

/** An ingest key is a machine credential: it may ingest events and nothing else. */
export type PrincipalRole = Role | 'ingest-key'

export const ROLE_PERMISSIONS: Record<PrincipalRole, ReadonlySet<Permission>> = {
  admin: new Set(PERMISSIONS),
  analyst: new Set<Permission>(['self', 'alerts:read', 'incidents:read', 'incidents:write', 'models:read', 'models:write']),
  // Triages alerts (their status, so far) and works incidents as analysts do; reads detection models.
  responder: new Set<Permission>(['self', 'alerts:read', 'alerts:update', 'incidents:read', 'incidents:write', 'models:read']),
  viewer: new Set<Permission>(['self', 'alerts:read', 'incidents:read', 'models:read']),
  'ingest-key': new Set<Permission>(['events:ingest'])
}

export const can = (role: PrincipalRole, permission: Permission) => ROLE_PERMISSIONS[role].has(permission)
