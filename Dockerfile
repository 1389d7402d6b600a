FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY sinoscope ./sinoscope
COPY ingest ./ingest
COPY nlp ./nlp
COPY sinks ./sinks
COPY flows ./flows
# (a CPU-only build of torch, installed before this line, keeps the image much smaller)
RUN pip install --no-cache-dir -e .
ENV SINOSCOPE_DATA_DIR=/data
VOLUME /data
ENTRYPOINT ["sinoscope"]
CMD ["run"]
