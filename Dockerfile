# syntax=docker/dockerfile:1
# Vigil's container image (docs/deployment.md, "Containers"). Our machines cannot build images (no
# daemon, no registry): this file is kept standard, and test/deployment.test.ts checks what it can
# without a build (its HEALTHCHECK runs against a real Vigil, its ENV names are configuration
# variables, its CMD is what `npm start` runs).
#   docker build -t vigil .            then see compose.yaml for PostgreSQL beside it
ARG NODE_IMAGE=node:24-slim

# --- build: the whole install (esbuild and the rest), then dist/ ---
FROM ${NODE_IMAGE} AS build
WORKDIR /opt/vigil
COPY package.json package-lock.json ./
COPY patches ./patches
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build

# --- runtime: production dependencies, the compiled server and the migrations; no TypeScript ---
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    DATA_DIR=/var/lib/vigil
WORKDIR /opt/vigil
COPY package.json package-lock.json ./
COPY patches ./patches
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY drizzle ./drizzle
COPY --from=build /opt/vigil/dist ./dist
# The code stays root's and read-only; the unprivileged `node` user of the image writes DATA_DIR only
# (the embedded database, used when DATABASE_URL is unset: one container, on a volume).
RUN mkdir -p /var/lib/vigil && chown node:node /var/lib/vigil
USER node
VOLUME ["/var/lib/vigil"]
EXPOSE 3000
# SIGTERM: Vigil finishes the requests in flight (10 s at most) and exits 0; give `docker stop` more
# than that (compose.yaml: stop_grace_period).
STOPSIGNAL SIGTERM
# Readiness, with node (slim images have no curl): /health answers 200 after a database round trip.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/health', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.status === 200 ? 0 : 1), () => process.exit(1))"]
# The compiled server with package.json's config.node_flags, as `npm start` runs it (without npm,
# so the signal reaches node).
CMD ["node", "--max-semi-space-size=32", "--max-old-space-size=256", "--no-allocation-site-pretenuring", "dist/src/server.js"]
