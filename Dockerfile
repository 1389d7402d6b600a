FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY sinoscope ./sinoscope
COPY ingest ./ingest
COPY nlp ./nlp
COPY sinks ./sinks
COPY flows ./flows
RUN pip install --no-cache-dir -e .
ENV SINOSCOPE_DATA_DIR=/data
VOLUME /data
ENTRYPOINT ["sinoscope"]
CMD ["run"]
