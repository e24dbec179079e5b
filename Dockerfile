# meshgate, plus the demo mesh's services and setup script (compose.yaml runs them from this image).
FROM node:20-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build
# The web console (/ui) reads its files from src/admin/console/ at run time: keep src/ in the image.
EXPOSE 18000
ENTRYPOINT ["node", "dist/src/cli/main.js"]
# The admin API (/debug/config, /debug/proxies, /metrics) listens on the container's loopback by
# default. To reach it from outside, pass --admin-addr 0.0.0.0:19100 together with a token
# (--admin-token or $MESHGATE_ADMIN_TOKEN; meshgate refuses a non-loopback admin address without
# one) and publish the port only where it is safe (compose.yaml publishes it on the host's loopback). xDS streams are checked against Consul ACLs; add --xds-tls-cert/--xds-tls-key for TLS.
CMD ["serve", "--consul-addr", "consul:8500", "--xds-addr", "0.0.0.0:18000", "--admin-addr", "127.0.0.1:19100"]
