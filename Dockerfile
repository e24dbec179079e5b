# meshgate, plus the demo mesh's services and setup script (compose.yaml runs them from this image).
FROM node:20-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build
EXPOSE 18000 19100
ENTRYPOINT ["node", "dist/src/cli/main.js"]
CMD ["serve", "--consul-addr", "consul:8500", "--xds-addr", "0.0.0.0:18000", "--admin-addr", "0.0.0.0:19100"]
