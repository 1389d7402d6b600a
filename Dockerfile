FROM python:3.11-slim
# torch first, from PyTorch's CPU-only wheel index: the default build carries CUDA (gigabytes)
# that a CPU worker never uses; `pip install -e .` below then finds torch satisfied
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
RUN pip install --no-cache-dir --index-url "${TORCH_INDEX}" torch==2.13.0
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin sinoscope \
    && mkdir /data && chown sinoscope:sinoscope /data
WORKDIR /app
COPY pyproject.toml README.md ./
COPY sinoscope ./sinoscope
COPY ingest ./ingest
COPY nlp ./nlp
COPY sinks ./sinks
COPY flows ./flows
RUN pip install --no-cache-dir -e .
# the services run as an unprivileged user; /data (a volume) is theirs
USER sinoscope
ENV SINOSCOPE_DATA_DIR=/data
VOLUME /data
ENTRYPOINT ["sinoscope"]
CMD ["run"]
