# The broker (and its Entra emulator): `entra-broker server ...`, `entra-broker emulator ...`.
FROM python:3.12-slim

WORKDIR /src
COPY pyproject.toml README.md ./
COPY mount ./mount
COPY plugin ./plugin
COPY emulator ./emulator
RUN pip install --no-cache-dir . && rm -rf /src

# A user of its own; /certs and /data are created here so that named volumes mounted
# there start out owned by it (the compose demo keeps the emulator's CA in /certs).
RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin broker \
    && mkdir -p /certs /data && chown broker:broker /certs /data
USER broker
WORKDIR /data

EXPOSE 8200 8443
ENTRYPOINT ["entra-broker"]
CMD ["--help"]
