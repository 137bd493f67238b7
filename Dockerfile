# syntax=docker/dockerfile:1
#
# Latchkey container image: one image for every role.
#   API only:       node dist/main.js --role=api
#   worker only:    node dist/worker.js
#   both (default): node dist/main.js
# See docs/containers.md. Checked without a Docker engine by `npm run containers:check`.
#
# Stages: base -> deps (all dependencies) -> build (tsc) ; base -> prod-deps ; runtime.
# Dependencies are installed with --ignore-scripts everywhere: the npm shipped with the base image
# does not read package.json's `allowScripts`, so letting it run install scripts would run the very
# ones the repository denies (e.g. @prisma/engines downloading binaries). The only script the build
# needs, `postinstall` (prisma generate, offline), is run explicitly in the build stage; bcrypt loads
# its bundled prebuilt binary at runtime and needs no install script.

# Pinned by tag (Node 20 LTS on Debian 12). To pin harder, append the digest: node:20-bookworm-slim@sha256:...
FROM node:20-bookworm-slim AS base
WORKDIR /app

# ---- deps: every dependency, dev included, exactly as locked. Only the manifests are copied so this
# layer stays cached until package.json or package-lock.json change.
FROM base AS deps
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund

# ---- build: generate the Prisma client into src/generated/prisma, then compile src/ to dist/.
FROM deps AS build
COPY tsconfig.json tsconfig.build.json prisma.config.ts ./
COPY prisma ./prisma
COPY src ./src
RUN npm run postinstall \
 && npm run build

# ---- prod-deps: production dependencies only. --omit=optional leaves out the embedded-PostgreSQL
# binaries (about 60 MB; a container always gets DATABASE_URL and never starts them) and other
# optional native speed-ups that have pure-JS fallbacks.
FROM base AS prod-deps
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force

# ---- runtime: compiled app + production node_modules + migrations (applied by the app at start,
# under an advisory lock, so no separate migrate container is needed).
FROM base AS runtime
# HOST explicitly: outside production the app listens on loopback only, and a container must listen
# on its interface whatever NODE_ENV an operator passes.
ENV NODE_ENV=production \
    PORT=4000 \
    HOST=0.0.0.0
# V8's heap, bounded for a service (the same flags as `npm run start:prod`; docs/operations.md, "Memory"):
# without a cap V8 sizes the heap from the host's memory and lets it grow to ~4x the live objects under
# load (~300 MiB after a burst, ~200 with these). Raise --max-old-space-size for an instance holding many
# thousands of WebSocket subscribers; an operator's own NODE_OPTIONS replaces this line.
ENV NODE_OPTIONS="--max-old-space-size=1024 --max-semi-space-size=8"
# Files stay owned by root and read-only to the app user: the process cannot rewrite its own code.
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY prisma/migrations ./prisma/migrations
# The account console (/account): plain ES modules served as written, no build step.
COPY console ./console
# Non-root: `node` (uid 1000) comes with the base image.
USER node
EXPOSE 4000
# Slim images have no curl/wget: probe with node's own fetch. /readyz is 200 only when PostgreSQL and
# Redis answer. Plain HTTP on loopback: TLS is expected to end at a proxy in front of the container.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||4000)+'/readyz',{signal:AbortSignal.timeout(4000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# The app drains on SIGTERM and exits within 10 s (compose gives it 15 s).
STOPSIGNAL SIGTERM
# Exec form: node receives signals directly. Run with an init (`docker run --init`, compose
# `init: true`) so a PID 1 reaps zombies and forwards signals; node handles SIGTERM itself.
CMD ["node", "dist/main.js"]
