# nodetool-gateway: a node that joins a gateway, its config mounted at /config.
#
#   docker build -t nodetool-gateway .
#   docker run -d --name node --stop-timeout 60 \
#       -v "$PWD/mynode:/config:ro" -v nodetool-data:/data \
#       -e GATEWAY_AUTH_TOKEN_FILE=/run/secrets/gateway-token \
#       nodetool-gateway                      # = nodetool-gateway run /config/node.yaml
#   docker run --rm -v "$PWD/mynode:/config:ro" nodetool-gateway validate /config/node.yaml --env prod

FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY src ./src
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.12-slim
# Extras to install, e.g. --build-arg EXTRAS=speed,chroma
ARG EXTRAS=""
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
COPY --from=build /wheels /wheels
RUN set -eu; \
    wheel="$(ls /wheels/nodetool_gateway-*.whl)"; \
    pip install --no-cache-dir "${wheel}${EXTRAS:+[$EXTRAS]}"; \
    rm -rf /wheels
# A fixed, unprivileged uid: give a bind-mounted /data to 10001 (chown 10001 DIR).
# The node keeps jobs, logs and assets in ~/.local/share/nodetool-gateway, which is /data.
RUN useradd --uid 10001 --user-group --create-home --home-dir /home/node \
        --shell /usr/sbin/nologin node \
    && mkdir -p /config /data /home/node/.local/share \
    && ln -s /data /home/node/.local/share/nodetool-gateway \
    && chown -R node:node /data /home/node
USER 10001:10001
ENV HOME=/home/node
WORKDIR /config
VOLUME ["/data"]
# SIGTERM drains: running calls get shutdown.grace (30 s by default) to finish, so
# give `docker stop` more than that (--stop-timeout / stop_grace_period). SIGHUP
# reloads the config (docker kill -s HUP).
STOPSIGNAL SIGTERM
ENTRYPOINT ["nodetool-gateway"]
CMD ["run", "/config/node.yaml"]
