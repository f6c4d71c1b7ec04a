// The app's own route list, for checks that every route is documented. Fastify keeps its router
// private after `ready()`; `printRoutes({ commonPrefix: false })` is the public view of it, a tree
// whose lines are `<indent>├── <path segment> (<METHODS>)`. The parser fails loudly on a line it
// does not understand, and every route it returns is confirmed with `app.hasRoute`, so a change
// in the printed format cannot make routes silently disappear from the checks.
import type { FastifyInstance, HTTPMethods } from 'fastify'

export interface RegisteredRoute {
  method: string
  /** The route's path as registered, e.g. `/api/incidents/:id/alerts`. */
  url: string
}

// Indent, branch, path segment, then optionally the methods and the constraints (JSON).
const NODE = /^((?:│ {3}| {4})*)(?:├── |└── )(\S+)(?: \(([^)]*)\)(?: \{.*\})?)?$/

export function parseRouteTree(tree: string): RegisteredRoute[] {
  const routes: RegisteredRoute[] = []
  const stack: string[] = []
  let last: { depth: number; key: string } | undefined
  for (const line of tree.split('\n')) {
    if (line.trim() === '') continue
    const m = NODE.exec(line)
    if (!m) {
      // The same path with other constraints is printed on a continuation line under its node.
      const cont = last && new RegExp(`^[│ ]*${escape(last.key)} \\(([^)]*)\\)`).exec(line)
      if (!cont) throw new Error(`unexpected line in printRoutes output: ${JSON.stringify(line)}`)
      add(cont[1], stack.slice(0, last!.depth + 1).join(''))
      continue
    }
    const depth = m[1].length / 4
    stack.length = depth
    stack.push(m[2])
    last = { depth, key: m[2] }
    if (m[3] !== undefined) add(m[3], stack.join(''))
  }
  return routes

  function add(methods: string, url: string) {
    for (const method of methods.split(',').map((s) => s.trim())) {
      if (method && method !== '-') routes.push({ method, url })
    }
  }
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

/**
 * Every method + path the app serves, each confirmed by `app.hasRoute`. A wildcard is the one
 * exception: find-my-way prints it as a bare `*` under the last route above it, dropping the
 * static text in between (`/docs/static/*` shows as `*` under `/docs`), so its path cannot be
 * rebuilt; it is returned as printed (`/docs*`), which matches no documented path, so a wildcard
 * route outside the docs UI fails the documentation checks instead of passing unseen.
 */
export function registeredRoutes(app: FastifyInstance): RegisteredRoute[] {
  const routes = parseRouteTree(app.printRoutes({ commonPrefix: false }))
  for (const r of routes) {
    if (r.url.endsWith('*')) continue
    if (!app.hasRoute({ method: r.method as HTTPMethods, url: r.url })) {
      throw new Error(`printRoutes lists ${r.method} ${r.url} but app.hasRoute denies it`)
    }
  }
  return routes
}

/** `/api/incidents/:id/alerts/:alert_id` -> `/api/incidents/{id}/alerts/{alert_id}`. */
export const toOpenApiPath = (url: string) => url.replace(/:(\w+)(\([^)]*\))?/g, '{$1}')

/** `/api/incidents/{id}/` -> `/api/incidents/:id` (trailing slash ignored, as the router does). */
export const toFastifyPath = (path: string) => stripSlash(path.replace(/\{(\w+)\}/g, ':$1'))

export const stripSlash = (p: string) => (p.length > 1 ? p.replace(/\/+$/, '') : p)
